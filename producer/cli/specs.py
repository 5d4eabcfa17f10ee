"""Reading what people type: durations (``1h30m``), JSON arguments, ISO times, trigger flags.

Each parser is a click ``ParamType`` so a bad value is a usage error (exit code 2) that
names the option and the text, before anything touches the store.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import click
from pydantic import TypeAdapter, ValidationError

__all__ = [
    "DURATION",
    "ISO_DATETIME",
    "JSON_ARRAY",
    "JSON_OBJECT",
    "DurationType",
    "trigger_from_flags",
]

# Unit letters a duration may use, in the order they must appear, and their seconds.
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:(?P<w>\d+(?:\.\d+)?)w)?(?:(?P<d>\d+(?:\.\d+)?)d)?"
                       r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)s)?$")  # fmt: skip


_TIMEDELTA = TypeAdapter(timedelta)


class DurationType(click.ParamType[timedelta]):
    """``30s``, ``5m``, ``1h30m``, ``2d``, ``1w``, plain seconds (``90``) or ISO 8601 (``PT5M``)."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower().replace(" ", "")
        try:
            return timedelta(seconds=float(text))
        except ValueError:
            pass
        match = _DURATION.match(text)
        if text.startswith("p"):  # ISO 8601 (PT1H30M), as the DUEQ_* settings accept it
            try:
                return _TIMEDELTA.validate_python(text.upper())
            except ValidationError:
                match = None
        if not text or match is None:
            self.fail(f"{value!r} is not a duration such as 30s, 5m, 1h30m or 2d", param, ctx)
        seconds = sum(float(match[unit]) * size for unit, size in _UNITS.items() if match[unit])
        return timedelta(seconds=seconds)


class _JsonType(click.ParamType[Any]):
    def __init__(self, kind: type, what: str) -> None:
        self._kind = kind
        self._what = what
        self.name = f"json {what}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self._kind):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"{value!r} is not JSON: {exc.msg}", param, ctx)
        if not isinstance(parsed, self._kind):
            self.fail(f"{value!r} is not a JSON {self._what}", param, ctx)
        return parsed


class _IsoDateTime(click.ParamType[datetime]):
    name = "iso-datetime"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date-time such as 2026-12-01T09:00", param, ctx
            )


DURATION = DurationType()
JSON_ARRAY = _JsonType(list, "array")
JSON_OBJECT = _JsonType(dict, "object")
ISO_DATETIME = _IsoDateTime()


def trigger_from_flags(
    cron: str | None, interval: timedelta | None, at: datetime | None
) -> tuple[str, dict[str, Any]] | None:
    """``(trigger, trigger_args)`` for ``add_job`` from the one trigger flag given, or None.

    A naive ``--at`` is read in the scheduler's zone (``--timezone``) by ``add_job`` itself.
    """
    chosen = [flag for flag, value in (("--cron", cron), ("--interval", interval), ("--at", at))
              if value is not None]  # fmt: skip
    if len(chosen) > 1:
        raise click.UsageError(f"give one trigger, not {' and '.join(chosen)}")
    if cron is not None:
        text = cron.strip()
        if len(text.split()) < 2 and not text.startswith("@"):
            raise click.BadParameter(
                f"{cron!r} is not crontab text: expected 5 fields (minute hour day month "
                "day_of_week), 6 with a leading second, or a macro such as @hourly",
                param_hint="--cron",
            )
        return text, {}
    if interval is not None:
        if interval <= timedelta(0):
            raise click.BadParameter("must be longer than zero", param_hint="--interval")
        return "interval", {"seconds": interval.total_seconds()}
    if at is not None:
        return "date", {"run_date": at}
    return None
