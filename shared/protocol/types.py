"""Field types shared by every protocol message: UTC timestamps, names, bounded JSON.

Each type validates strictly on the way in and serializes one way only, so the JSON a
consumer in another language sees never varies (timestamps always carry microseconds and
``Z``; names are always within their bounds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    WithJsonSchema,
)

__all__ = [
    "PROTOCOL_VERSION",
    "FuncRef",
    "Identifier",
    "JsonArgs",
    "JsonKwargs",
    "ProtocolModel",
    "QueueName",
    "ShortText",
    "UtcDatetime",
    "format_utc",
]

PROTOCOL_VERSION = 1

# Every timestamp on the wire: RFC 3339 in UTC, always with six fractional digits and "Z".
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# The same layout as ``_UTC_FORMAT`` for years from 1000 on (strftime does not pad years).
_UTC_FIELDS = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
_FOUR_DIGIT_YEARS = 1000
_UTC_PATTERN = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def format_utc(value: datetime) -> str:
    """Serialize an aware datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    Every message carries several timestamps, so this is on the hot path of both the
    scheduler and the worker: ``%``-formatting the fields is ~2.5x faster than
    ``strftime``.  Years before 1000 keep ``strftime``'s unpadded year.
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year < _FOUR_DIGIT_YEARS:
        return value.strftime(_UTC_FORMAT)
    return _UTC_FIELDS % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (naive timestamps are ambiguous)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC equivalent; pydantic
        # only turns ValueError into a validation error, so an OverflowError would escape.
        raise ValueError("timestamp is out of range once converted to UTC") from None


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_require_aware),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": _UTC_PATTERN,
            "description": "RFC 3339 timestamp with an offset; dueq always writes UTC "
            "with microseconds, e.g. 2026-01-01T09:00:00.000000Z",
        }
    ),
]
"""An aware timestamp, normalized to UTC; naive input is refused."""

Identifier = Annotated[str, Field(min_length=1, max_length=255)]
"""A job id, run id, worker id or job name."""

QueueName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
"""A job queue name (also the routing key on the runs exchange)."""

FuncRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="A registered job name, or module:qualname under an allowed prefix",
    ),
]
"""Which function a worker should run. Workers resolve it against an allowlist only."""

ShortText = Annotated[str, Field(max_length=4096)]
"""A one-line reason or message; longer text is truncated by the sender."""

JsonArgs = list[JsonValue]
JsonKwargs = dict[str, JsonValue]


class ProtocolModel(BaseModel):
    """Base of every wire model: frozen, strict, unknown fields refused."""

    # NaN and Infinity are not JSON: a consumer in another language could not read them.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)

    #: Optional fields added to protocol 1 after it shipped, with their defaults: a field
    #: at its default is left off the wire, so older consumers (which refuse unknown
    #: fields) read every message that does not use it exactly as before.
    EXTENSIONS: ClassVar[dict[str, object]] = {}

    def wire_exclude(self) -> set[str] | None:
        """The extension fields at their defaults (left off the wire), or None."""
        if not self.EXTENSIONS:
            return None
        return {name for name, default in self.EXTENSIONS.items() if getattr(self, name) == default}

    def wire_dict(self) -> dict[str, Any]:
        """The JSON-ready dict of this message, exactly as it goes on the wire."""
        return self.model_dump(mode="json", exclude=self.wire_exclude())
