"""The one place where bytes become protocol models and back.

Decoding never lets a library exception escape: every failure is a ``ProtocolError``
carrying the raw body (to dead-letter it) and a one-line reason (for the dead-letter
headers and the ``job_rejected`` event).
"""

from __future__ import annotations

from pydantic import BaseModel, TypeAdapter, ValidationError

from dueq.shared.errors import ProtocolError
from dueq.shared.protocol.events import Event
from dueq.shared.protocol.runs import RunRequest
from dueq.shared.protocol.types import PROTOCOL_VERSION, ProtocolModel

__all__ = [
    "CONTENT_TYPE",
    "MAX_MESSAGE_BYTES",
    "decode_event",
    "decode_run",
    "encode",
]

CONTENT_TYPE = "application/json"

# A RunRequest is at most ~66 KiB (64 KiB of arguments plus fields) and an event ~100 KiB;
# anything near a mebibyte is not ours, and refusing it before parsing bounds the work a
# hostile message can cause.
MAX_MESSAGE_BYTES = 1024 * 1024

# How many validation errors a reason lists before "and N more".
_ERRORS_SHOWN = 3

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def encode(message: BaseModel) -> bytes:
    """Serialize a protocol model to its UTF-8 JSON wire form."""
    if isinstance(message, ProtocolModel):
        return message.model_dump_json(exclude=message.wire_exclude()).encode()
    return message.model_dump_json().encode()


def decode_run(body: bytes) -> RunRequest:
    """Parse and validate a RunRequest, or raise ``ProtocolError``."""
    _check_size(body)
    try:
        run = RunRequest.model_validate_json(body)
    except ValidationError as exc:
        raise ProtocolError(_describe(exc, "RunRequest"), body) from exc
    _require_version_field(run, body)
    return run


def decode_event(body: bytes) -> Event:
    """Parse and validate any event from the reply queue, or raise ``ProtocolError``."""
    _check_size(body)
    try:
        event = _EVENT_ADAPTER.validate_json(body, strict=True)
    except ValidationError as exc:
        raise ProtocolError(_describe(exc, "event"), body) from exc
    _require_version_field(event, body)
    return event


def _require_version_field(message: BaseModel, body: bytes) -> None:
    """A message must say which protocol it speaks; Python callers may rely on the default."""
    if "protocol" not in message.model_fields_set:
        raise ProtocolError("missing required field(s): protocol", body)


def _check_size(body: bytes) -> None:
    if len(body) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            f"message is {len(body)} bytes; the limit is {MAX_MESSAGE_BYTES}", body[:1024]
        )


def _describe(exc: ValidationError, what: str) -> str:
    """Turn pydantic's error list into one line that names each bad field."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return str(first["msg"])  # pydantic already says "Invalid JSON: ..."
    if first["loc"][:1] == ("protocol",):
        return f"unsupported protocol version (this side speaks {PROTOCOL_VERSION})"
    parts = [f"{_location(e['loc'])}: {e['msg']}" for e in errors[:_ERRORS_SHOWN]]
    more = len(errors) - _ERRORS_SHOWN
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"invalid {what}: " + "; ".join(parts) + suffix


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "message"
