"""Message authentication: who may have sent a message, checked before its body is read.

Every message dueq sends carries, when a signing key is configured, an HMAC-SHA256 over
``"dueq-hmac-sha256-v1\\n" + <AMQP type> + "\\n" + <body bytes>`` in the header
``x-dueq-signature`` (lowercase hex) and the id of the key in ``x-dueq-key-id``.  The
AMQP ``type`` property (``dueq.run``, ``dueq.run.handover`` or the event name) is signed
with the body so a message signed for one purpose cannot be replayed as another: a
worker's ``job_executed`` is not a run, and a run is not a handover.  The key id is the
first 16 hex digits of ``sha256("dueq-key-id\\n" + key)``, so keys can rotate: a receiver
verifies with the current key or any old key still listed, and signs with the current one.

Why HMAC and not public keys: every consumer in every language can compute it with its
standard library, it costs microseconds per message, and it needs no certificate
handling (Celery's x509 signing needs all three).  Its limit, written in docs/security.md:
whoever holds the key can sign anything, so a compromised worker host can forge runs;
the broker permissions (workers cannot publish to the runs exchange) close that path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dueq.shared.errors import ConfigError, ProtocolError

__all__ = [
    "HANDOVER_TYPE",
    "KEY_ID_HEADER",
    "MIN_KEY_CHARS",
    "RUN_TYPE",
    "SIGNATURE_HEADER",
    "Signer",
    "key_id",
    "signature",
]

SIGNATURE_HEADER = "x-dueq-signature"
KEY_ID_HEADER = "x-dueq-key-id"
# AMQP ``type`` of a RunRequest from the scheduler, and of one a worker's reaper hands over
# after the worker that claimed it died (reported as redelivered).
RUN_TYPE = "dueq.run"
HANDOVER_TYPE = "dueq.run.handover"
# 32 characters of a random token is 128+ bits; shorter keys are guessable offline from
# one captured message.
MIN_KEY_CHARS = 32
_SCHEME = b"dueq-hmac-sha256-v1"
# compare_digest refuses non-ASCII text, so the shape is checked first.
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_REFUSED_KEYS = frozenset({"change-me", "changeme", "secret", "password"})


def key_id(key: bytes) -> str:
    """The public name of ``key``: lets a receiver pick the key without trying each one."""
    return hashlib.sha256(b"dueq-key-id\n" + key).hexdigest()[:16]


def signature(key: bytes, purpose: str, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` for ``purpose`` (the AMQP type), as lowercase hex."""
    mac = hmac.new(key, _SCHEME + b"\n" + purpose.encode() + b"\n", hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


class Signer:
    """Signs with the current key; verifies with the current key or an old one.

    Never shows a key in ``repr`` or in an error: only key ids appear anywhere.
    """

    __slots__ = ("_current", "_current_id", "_keys")

    def __init__(self, key: str, old_keys: Iterable[str] = ()) -> None:
        keys = [key, *old_keys]
        for candidate in keys:
            _check_key(candidate)
        self._current = key.encode()
        self._current_id = key_id(self._current)
        self._keys = {key_id(k.encode()): k.encode() for k in keys}

    def __repr__(self) -> str:
        return f"Signer(key_id={self._current_id!r}, verifying={len(self._keys)} key(s))"

    @property
    def key_id(self) -> str:
        """Id of the key this signer signs with."""
        return self._current_id

    def headers(self, purpose: str, body: bytes) -> dict[str, str]:
        """The headers to add to a message of type ``purpose`` carrying ``body``."""
        return {
            SIGNATURE_HEADER: signature(self._current, purpose, body),
            KEY_ID_HEADER: self._current_id,
        }

    def verify(self, purpose: str | None, body: bytes, headers: Mapping[str, Any]) -> None:
        """Raise ``ProtocolError`` unless ``body`` was signed for ``purpose`` by a known key.

        Runs before anything parses the body; the comparison is constant-time.
        """
        given, kid = headers.get(SIGNATURE_HEADER), headers.get(KEY_ID_HEADER)
        if given is None:
            raise ProtocolError("unsigned message (this side requires x-dueq-signature)", b"")
        if not isinstance(given, str) or not _HEX_SIGNATURE.fullmatch(given):
            raise ProtocolError("malformed x-dueq-signature header", b"")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise ProtocolError("signed with an unknown key (x-dueq-key-id)", b"")
        if not purpose:
            raise ProtocolError("signed message without an AMQP type", b"")
        if not hmac.compare_digest(signature(key, purpose, body), given.lower()):
            raise ProtocolError(f"bad signature for a {purpose[:40]!r} message", b"")


def _check_key(key: str) -> None:
    if key.strip().lower() in _REFUSED_KEYS:
        raise ConfigError("the signing key is a placeholder; set DUEQ_SIGNING_KEY to a secret")
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"the signing key must be at least {MIN_KEY_CHARS} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
