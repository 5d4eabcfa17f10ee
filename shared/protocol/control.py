"""Run control on the wire: the retry policy a run carries, and the run ids of its attempts.

A retry is a run of its own: attempt ``n`` of the run of ``job_id`` at ``scheduled_at`` has
the id ``make_attempt_id(job_id, scheduled_at, n)`` (attempt 1 keeps the plain run id), so
a retry republished after a crash carries the same id and workers drop the duplicate.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from dueq.shared.protocol.types import ProtocolModel, format_utc

__all__ = ["MAX_ATTEMPTS", "Overlap", "RetryPolicy", "attempt_suffix", "backoff_delay"]

# Far more attempts than any backoff schedule needs; bounds what a message can ask for.
MAX_ATTEMPTS = 100


class Overlap(StrEnum):
    """What a worker does with a run whose job already has ``max_instances`` running.

    Checked fleet-wide where workers share the database, as ``max_instances`` is.
    """

    #: Report it ``job_max_instances`` and drop it (APScheduler's behaviour; the default).
    SKIP = "skip"
    #: Keep one run waiting and start it as soon as a slot frees; skip any further ones.
    BUFFER_ONE = "buffer_one"
    #: Keep every such run waiting; each starts when a slot frees, in arrival order.
    BUFFER_ALL = "buffer_all"
    #: Stop the running instances (where their executor can) and start this one.
    CANCEL_OTHER = "cancel_other"
    #: Start it regardless: ``max_instances`` does not apply.
    ALLOW_ALL = "allow_all"


class RetryPolicy(ProtocolModel):
    """How often a failing run is tried again, and how long to wait before each retry.

    The wait before attempt ``n + 1`` is ``min(backoff_max_s, backoff_s * 2 ** (n - 1))``,
    scaled by a random factor in [0.5, 1] when ``jitter`` is set (so a fleet of failing
    runs does not retry in lockstep).  ``retry_on`` lists qualified exception class names
    (``builtins`` ones bare: ``ConnectionError``); a run retries when its exception is an
    instance of one of them, or of anything when the list is empty.  A timeout counts as
    ``TimeoutError``.
    """

    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = 3
    backoff_s: Annotated[float, Field(ge=0, le=86_400)] = 1.0
    backoff_max_s: Annotated[float, Field(ge=0, le=86_400 * 7)] = 300.0
    jitter: bool = True
    retry_on: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255)]], Field(max_length=50)
    ] = Field(default_factory=list)


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> timedelta:
    """The wait between the failure of ``attempt`` and the start of ``attempt + 1``."""
    exponent = min(attempt - 1, 60)  # 2**60 s is past any cap; avoids huge floats
    seconds = min(policy.backoff_max_s, policy.backoff_s * 2.0**exponent)
    if policy.jitter:
        seconds *= 0.5 + 0.5 * (rng or random).random()
    return timedelta(seconds=seconds)


def attempt_suffix(scheduled_at: datetime, attempt: int) -> str:
    """The text hashed into the run id of ``attempt`` (see ``make_run_id``)."""
    stamp = format_utc(scheduled_at)
    return stamp if attempt == 1 else f"{stamp}\n{attempt}"
