"""Deterministic jitter: the same (key, nominal time) always gets the same delay.

The scheduler may publish a run again after a crash; deriving the delay from a hash
instead of a random generator gives the republished run the same time (and so the same
run id).  The delay is uniform enough for spreading load, which is all jitter is for.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from dueq.shared.triggers.zones import to_utc

__all__ = ["jitter_delay"]

_FRACTION_BITS = 64


def jitter_delay(key: str, fire_time: datetime, limit: timedelta) -> timedelta:
    """A delay in ``[0, limit)`` fixed by ``key`` and the instant of ``fire_time``.

    The instant is hashed in UTC so that the same nominal time expressed in another zone
    gets the same delay.
    """
    if limit <= timedelta(0):
        return timedelta(0)
    seed = f"{key}|{to_utc(fire_time).isoformat()}".encode()
    digest = hashlib.blake2b(seed, digest_size=_FRACTION_BITS // 8).digest()
    fraction = int.from_bytes(digest, "big") / 2**_FRACTION_BITS  # in [0, 1)
    microseconds = int(fraction * (limit // timedelta(microseconds=1)))
    return timedelta(microseconds=microseconds)
