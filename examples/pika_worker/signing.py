"""Message signing as docs/protocol.md#signing describes it, with the standard library only.

HMAC-SHA256 over ``"dueq-hmac-sha256-v1\\n" + <AMQP type> + "\\n" + <body>``, hex in the
``x-dueq-signature`` header, the key's id in ``x-dueq-key-id``.  A worker signs every event
it publishes and verifies every run before parsing it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

__all__ = ["sign", "verify"]

_SCHEME = b"dueq-hmac-sha256-v1"


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"dueq-key-id\n" + key).hexdigest()[:16]


def _mac(key: bytes, kind: str, body: bytes) -> str:
    return hmac.new(key, _SCHEME + b"\n" + kind.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def sign(key: bytes, kind: str, body: bytes) -> dict[str, str]:
    """The headers that sign ``body`` sent with AMQP type ``kind``."""
    return {"x-dueq-signature": _mac(key, kind, body), "x-dueq-key-id": _key_id(key)}


def verify(key: bytes, properties: Any, body: bytes) -> str | None:
    """Why the message is not signed by ``key`` for its type, or None if it is."""
    headers = properties.headers or {}
    given, kind = headers.get("x-dueq-signature"), properties.type
    if not isinstance(given, str):
        return "unsigned message (this worker requires x-dueq-signature)"
    if headers.get("x-dueq-key-id") != _key_id(key):
        return "signed with an unknown key (x-dueq-key-id)"
    if kind not in ("dueq.run", "dueq.run.handover"):
        return f"a message of type {kind!r} is not a run"
    expected = _mac(key, kind, body)
    if not given.isascii() or not hmac.compare_digest(expected, given.lower()):
        return "bad signature"
    return None
