"""Parsing one CronTrigger field (APScheduler 3's expression language) into values.

A field is a comma list of items: ``*``, ``*/n``, ``a``, ``a-b``, ``a/n``, ``a-b/n``
(numbers or, for month and day_of_week, names, so ``mon-fri/2`` works; APScheduler
silently ignores such steps), and for the day field ``last``, ``1st``..``5th <weekday>``
and ``last <weekday>``.  Parsing gives the allowed values once; matching a date is then
set membership.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.cron.fields import WEEKDAY_NAMES, FieldKind

__all__ = ["CompiledField", "parse_field"]

_STAR = re.compile(r"\*(?:/(?P<step>\d+))?")
_RANGE = re.compile(r"(?P<first>\w+)(?:-(?P<last>\w+))?(?:/(?P<step>\d+))?")
_POSITION = re.compile(r"(?P<nth>1st|2nd|3rd|4th|5th|last)\s+(?P<weekday>\w+)")
_ORDINALS = ("1st", "2nd", "3rd", "4th", "5th")
LAST = -1  # the position of "last fri"


@dataclass(frozen=True)
class CompiledField:
    """The values one field allows, and its normalised text."""

    name: str
    text: str
    values: frozenset[int]
    last_day: bool = False  # day: the last day of the month
    positions: frozenset[tuple[int, int]] = frozenset()  # day: (1..5 or LAST, weekday)


def parse_field(kind: FieldKind, raw: object) -> CompiledField:
    """Parse a field value (a str or int), raising ``InvalidTriggerError`` naming it."""
    # bool is refused before the cache, where True would hit the entry for 1.
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidTriggerError(kind.name, raw, "expected a string or an integer")
    return _parse_text(kind, str(raw))


# The scheduler rebuilds a trigger from JSON for every due job; the same few expressions
# come back again and again, and a parsed field is immutable, so parse each only once.
@lru_cache(maxsize=4096)
def _parse_text(kind: FieldKind, raw: str) -> CompiledField:
    items = [item.strip().lower() for item in raw.strip().split(",")]
    values: set[int] = set()
    positions: set[tuple[int, int]] = set()
    last_day = False
    for item in items:
        try:
            if kind.day_rules and item == "last":
                last_day = True
            elif kind.day_rules and (match := _POSITION.fullmatch(item)):
                positions.add(_position(match))
            else:
                values.update(_item_values(kind, item))
        except ValueError as exc:
            raise InvalidTriggerError(kind.name, raw, str(exc)) from None
    text = ",".join(" ".join(item.split()) for item in items)
    return CompiledField(kind.name, text, frozenset(values), last_day, frozenset(positions))


def _position(match: re.Match[str]) -> tuple[int, int]:
    weekday = match["weekday"]
    if weekday not in WEEKDAY_NAMES:
        raise ValueError(f"{weekday!r} is not a weekday name (mon..sun)")
    nth = LAST if match["nth"] == "last" else _ORDINALS.index(match["nth"]) + 1
    return nth, WEEKDAY_NAMES.index(weekday)


def _item_values(kind: FieldKind, item: str) -> range | list[int]:
    if not item:
        raise ValueError("empty item in the list")
    if match := _STAR.fullmatch(item):
        return _stepped(kind, kind.low, kind.high, match["step"])
    match = _RANGE.fullmatch(item)
    if match is None:
        raise ValueError(f"{item!r} is not a valid expression")
    first = _value(kind, match["first"])
    if match["last"] is None:
        last = first if match["step"] is None else kind.high
    else:
        last = _value(kind, match["last"])
    if first > last and kind.wraps:
        return _wrapped(kind, first, last, match["step"])
    if first > last:
        raise ValueError(f"the range {item!r} starts after it ends")
    return _stepped(kind, first, last, match["step"])


def _value(kind: FieldKind, token: str) -> int:
    value = kind.value_of(token)
    if value is None:
        hint = f" or a name ({kind.names[0]}..{kind.names[-1]})" if kind.names else ""
        raise ValueError(f"{token!r} is not a number{hint}")
    if not kind.low <= value <= kind.high:
        raise ValueError(f"{token} is outside {kind.low}..{kind.high}")
    return value


def _stepped(kind: FieldKind, first: int, last: int, step_text: str | None) -> range:
    step = _step(kind, first, last, step_text)
    return range(first, last + 1, step)


def _wrapped(kind: FieldKind, first: int, last: int, step_text: str | None) -> list[int]:
    # fri-mon means fri, sat, sun, mon: run to the end of the week and start again.
    cycle = [*range(first, kind.high + 1), *range(kind.low, last + 1)]
    return cycle[:: _step(kind, 0, len(cycle) - 1, step_text)]


def _step(kind: FieldKind, first: int, last: int, step_text: str | None) -> int:
    if step_text is None:
        return 1
    step = int(step_text)
    if step < 1:
        raise ValueError("the step must be at least 1")
    # As APScheduler: a step larger than the range it walks is surely a mistake.
    if last > first and step > last - first:
        raise ValueError(f"the step {step} is larger than the range it steps over")
    return step
