"""Crontab text (``"*/5 * * * *"``) with the semantics of real cron.

Where crontab and APScheduler's own field language disagree, text typed as crontab
means what cron means:

* 5 fields ``minute hour day month day_of_week``, or 6 with a leading ``second``;
* day_of_week counts from Sunday: 0 and 7 are Sunday, 1 is Monday, so ``1-5`` is
  mon-fri and ``5-7`` is fri-sun (APScheduler's own numbering starts at Monday = 0);
* when both day and day_of_week are restricted, a day matches if *either* matches
  (Vixie cron's rule: a field counts as unrestricted when it starts with ``*``, so
  ``*/2`` in day keeps the AND);
* the macros ``@yearly`` .. ``@hourly``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.cron.fields import FIELD_NAMES, WEEKDAY_NAMES

__all__ = ["CrontabFields", "parse_crontab"]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_ITEM = re.compile(r"(?P<first>\*|\w+)(?:-(?P<last>\w+))?(?:/(?P<step>\d+))?")
_SUNDAY_LAST = 7  # cron accepts 7 for Sunday so that ranges can end on it (5-7 = fri-sun)


@dataclass(frozen=True)
class CrontabFields:
    """The CronTrigger arguments a crontab line stands for."""

    fields: dict[str, str]
    day_or: bool


def parse_crontab(expr: object) -> CrontabFields:
    """Split crontab text into CronTrigger fields, converting day_of_week numbering."""
    if not isinstance(expr, str):
        raise InvalidTriggerError("expr", expr, "a crontab expression must be a string")
    parts = _expand_macro(expr).split()
    if len(parts) not in (5, 6):
        raise InvalidTriggerError(
            "expr",
            expr,
            f"expected 5 fields (minute hour day month day_of_week) or 6 with a leading"
            f" second field, got {len(parts)}",
        )
    names: tuple[str, ...] = ("minute", "hour", "day", "month", "day_of_week")
    if len(parts) == 6:
        names = ("second", *names)
    fields = dict(zip(names, parts, strict=True))
    day_or = not fields["day"].startswith("*") and not fields["day_of_week"].startswith("*")
    fields["day_of_week"] = _convert_weekdays(fields["day_of_week"])
    return CrontabFields(_without_leading_stars(fields), day_or)


def _without_leading_stars(fields: dict[str, str]) -> dict[str, str]:
    """Drop ``*`` fields that CronTrigger's defaults make ``*`` anyway.

    An unset field more significant than the least significant given one is ``*``, so
    only the ``*`` fields below the last restricted field need to be passed; this keeps
    ``str()`` short (``cron[minute='*/5']``) without changing the meaning.
    """
    order = [name for name in FIELD_NAMES if name in fields]
    restricted = [name for name in order if fields[name] != "*"]
    cut = order.index(restricted[-1]) if restricted else len(order) - 1
    return {name: fields[name] for name in order if fields[name] != "*" or order.index(name) >= cut}


def _expand_macro(expr: str) -> str:
    text = expr.strip()
    if not text.startswith("@"):
        return text
    macro = text.lower()
    if macro == "@reboot":
        raise InvalidTriggerError(
            "expr", expr, "@reboot is not supported: a dueq job has no machine to boot"
        )
    if macro not in MACROS:
        raise InvalidTriggerError(
            "expr", expr, f"unknown macro; expected one of {', '.join(sorted(MACROS))}"
        )
    return MACROS[macro]


def _convert_weekdays(text: str) -> str:
    """Cron's Sunday-based day_of_week as APScheduler's Monday-based names."""
    if text == "*":
        return text
    days: set[int] = set()
    for item in text.lower().split(","):
        days.update(_cron_days(text, item))
    return _render_weekdays({(day - 1) % 7 for day in days})


def _cron_days(text: str, item: str) -> range:
    match = _CRON_ITEM.fullmatch(item)
    if match is None:
        raise InvalidTriggerError("day_of_week", text, f"{item!r} is not a valid expression")
    if match["first"] == "*":
        if match["last"] is not None:
            raise InvalidTriggerError("day_of_week", text, f"{item!r} is not a valid expression")
        first, last = 0, _SUNDAY_LAST
    else:
        first = _cron_day(text, match["first"], at_end=False)
        last = first if match["last"] is None else _cron_day(text, match["last"], at_end=True)
        if match["last"] is None and match["step"] is not None:
            last = _SUNDAY_LAST
    if first > last:
        raise InvalidTriggerError("day_of_week", text, f"the range {item!r} starts after it ends")
    step = int(match["step"] or 1)
    if step < 1:
        raise InvalidTriggerError("day_of_week", text, "the step must be at least 1")
    return range(first, last + 1, step)


def _cron_day(text: str, token: str, *, at_end: bool) -> int:
    if token.isdigit() and int(token) <= _SUNDAY_LAST:
        return int(token)
    if token in _CRON_DAY_NAMES:
        # "fri-sun" ends on Sunday, which must count as 7 to follow Saturday.
        index = _CRON_DAY_NAMES.index(token)
        return _SUNDAY_LAST if at_end and index == 0 else index
    raise InvalidTriggerError(
        "day_of_week", text, f"{token!r} is not 0-7 (0 and 7 are Sunday) or a name (sun..sat)"
    )


def _render_weekdays(days: set[int]) -> str:
    """Monday-based days as names, runs joined into ranges: {0,1,2,6} -> 'mon-wed,sun'."""
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = [[WEEKDAY_NAMES[run[0]], WEEKDAY_NAMES[run[-1]]] for run in runs]
    return ",".join(first if first == last else f"{first}-{last}" for first, last in names)
