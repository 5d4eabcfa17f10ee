"""Reading RunRequests and writing events, exactly as docs/protocol.md describes them.

Everything here is plain JSON checked against the published schemas; nothing comes from
dueq's own code. A message that fails any check becomes a ``BadMessage`` carrying a
one-line reason and whatever ids could be read, for the dead-letter headers and the
``job_rejected`` event.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

__all__ = [
    "DEFAULT_SCHEMA_DIR",
    "BadMessage",
    "Run",
    "Schemas",
    "format_utc",
    "parse_run",
    "parse_utc",
]

# docs/protocol/ of the dueq checkout this example lives in.
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "protocol"

# The protocol version this consumer speaks; any other is refused by name.
PROTOCOL_VERSION = 1

# docs/protocol.md, "Bad messages": anything larger is refused before parsing.
MAX_MESSAGE_BYTES = 1024 * 1024

# docs/protocol.md, RunRequest: args and kwargs together, as compact JSON.
MAX_ARGUMENTS_BYTES = 64 * 1024

# Bounds from event.json's JobRejected on the ids read from a body.
_ID_LIMITS = {"run_id": 64, "job_id": 255}

# How many schema errors a reason lists; the rest are counted.
_ERRORS_SHOWN = 3


class BadMessage(Exception):
    """A message to dead-letter: why, and the ids that could be read from it."""

    def __init__(self, reason: str, ids: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())[:4096]  # one line, within event.json's bound
        self.ids = ids or {}


@dataclass(frozen=True, kw_only=True)
class Run:
    """A validated RunRequest, defaults applied, timestamps parsed."""

    run_id: str
    job_id: str
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    scheduled_at: datetime
    misfire_grace_time: float | None
    max_instances: int
    # Run control (docs/run-control.md): all optional.
    attempt: int = 1
    retry: dict[str, Any] | None = None
    timeout: float | None = None
    coalesce: bool = False
    next_scheduled_at: datetime | None = None
    overlap: str = "skip"
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # echoed when retried
    ids: dict[str, str] = field(
        default_factory=dict, repr=False
    )  # for a job_rejected, should the func be refused


class Schemas:
    """The two JSON Schemas of docs/protocol/, loaded once and compiled."""

    def __init__(self, schema_dir: Path = DEFAULT_SCHEMA_DIR) -> None:
        self.run_request = _load(schema_dir / "run_request.json")
        self.event = _load(schema_dir / "event.json")

    def check_event(self, event: dict[str, Any]) -> None:
        """Raise ``ValueError`` if ``event`` breaks event.json (a bug in this consumer)."""
        errors = list(self.event.iter_errors(event))
        if errors:
            raise ValueError(f"refusing to send an invalid {event.get('event')}: {errors[0]}")


def _load(path: Path) -> Any:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def format_utc(moment: datetime) -> str:
    """The protocol's timestamp form: UTC, six fractional digits, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset; naive ones raise ``ValueError``."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def parse_run(body: bytes, schemas: Schemas, message_id: str | None) -> Run:
    """Steps 1 of docs/protocol.md: size, JSON, version, schema, timestamps, argument size."""
    ids = {"message_id": message_id[:255]} if message_id else {}
    if len(body) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message is {len(body)} bytes; the limit is {MAX_MESSAGE_BYTES}", ids)
    data = _decode_json(body, ids)
    if isinstance(data, dict):
        ids.update(_readable_ids(data))
        if data.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
            raise BadMessage(
                f"unsupported protocol version {data.get('protocol')!r} "
                f"(this consumer speaks {PROTOCOL_VERSION})",
                ids,
            )
    _check_schema(data, schemas, ids)
    return _to_run(data, ids)


def _decode_json(body: bytes, ids: dict[str, str]) -> Any:
    try:
        # NaN and Infinity are not JSON; Python would accept them by default.
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadMessage(f"invalid JSON: {exc}", ids) from exc


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _check_schema(data: Any, schemas: Schemas, ids: dict[str, str]) -> None:
    errors = sorted(schemas.run_request.iter_errors(data), key=lambda e: list(e.path))
    if not errors:
        return
    parts = [f"{'.'.join(map(str, e.path)) or 'message'}: {e.message}" for e in errors]
    more = f" (and {len(parts) - _ERRORS_SHOWN} more)" if len(parts) > _ERRORS_SHOWN else ""
    raise BadMessage("invalid RunRequest: " + "; ".join(parts[:_ERRORS_SHOWN]) + more, ids)


def _to_run(data: dict[str, Any], ids: dict[str, str]) -> Run:
    try:
        scheduled_at = parse_utc(data["scheduled_at"])
        parse_utc(data["published_at"])
        following = data.get("next_scheduled_at")
        next_scheduled_at = None if following is None else parse_utc(following)
    except (ValueError, OverflowError) as exc:  # 0001-01-01T00:00+01:00 overflows
        raise BadMessage(f"invalid RunRequest: {exc}", ids) from exc
    args, kwargs = data.get("args", []), data.get("kwargs", {})
    size = len(json.dumps([args, kwargs], separators=(",", ":")).encode())
    if size > MAX_ARGUMENTS_BYTES:
        raise BadMessage(f"args and kwargs take {size} bytes; the limit is 65536", ids)
    return Run(
        run_id=data["run_id"],
        job_id=data["job_id"],
        func=data["func"],
        args=args,
        kwargs=kwargs,
        scheduled_at=scheduled_at,
        misfire_grace_time=data.get("misfire_grace_time"),
        max_instances=data.get("max_instances", 1),
        attempt=data.get("attempt", 1),
        retry=data.get("retry"),
        timeout=data.get("timeout"),
        coalesce=data.get("coalesce", False),
        next_scheduled_at=next_scheduled_at,
        overlap=data.get("overlap", "skip"),
        data=data,
        ids=ids,
    )


def _readable_ids(data: dict[str, Any]) -> dict[str, str]:
    """The ids a ``job_rejected`` may carry: only those that are themselves valid."""
    found = {
        key: value
        for key, limit in _ID_LIMITS.items()
        if isinstance(value := data.get(key), str) and 0 < len(value) <= limit
    }
    stamp = data.get("scheduled_at")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            found["scheduled_at"] = format_utc(parse_utc(stamp))
    return found
