"""The eight fields of a CronTrigger, most significant first, and their value ranges."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FIELDS",
    "FIELD_NAMES",
    "MONTH_NAMES",
    "WEEKDAY_NAMES",
    "FieldKind",
    "field_kind",
]

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True, kw_only=True)
class FieldKind:
    """What one field accepts.

    ``default`` is what an unset field means when it is less significant than the least
    significant field given (APScheduler 3: ``CronTrigger(hour=3)`` runs at 03:00:00,
    not every second of that hour); more significant unset fields are ``*``.
    """

    name: str
    low: int
    high: int
    default: str
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    wraps: bool = False  # a range may wrap around (fri-mon); only day_of_week
    day_rules: bool = False  # accepts last, "2nd mon", "last fri"; only day

    def value_of(self, token: str) -> int | None:
        """The number a token stands for (digits or a name), None when it is neither."""
        if token.isdigit():
            return int(token)
        if token in self.names:
            return self.low + self.names.index(token)
        return None

    def label(self, value: int) -> str:
        """How a value is written back: by name where the field has names."""
        return self.names[value - self.low] if self.names else str(value)


FIELDS = (
    FieldKind(name="year", low=1970, high=9999, default="*"),
    FieldKind(name="month", low=1, high=12, default="1", names=MONTH_NAMES),
    FieldKind(name="day", low=1, high=31, default="1", day_rules=True),
    FieldKind(name="week", low=1, high=53, default="*"),
    FieldKind(name="day_of_week", low=0, high=6, default="*", names=WEEKDAY_NAMES, wraps=True),
    FieldKind(name="hour", low=0, high=23, default="0"),
    FieldKind(name="minute", low=0, high=59, default="0"),
    FieldKind(name="second", low=0, high=59, default="0"),
)
FIELD_NAMES = tuple(kind.name for kind in FIELDS)


def field_kind(name: str) -> FieldKind:
    """The kind of the field called ``name``."""
    return FIELDS[FIELD_NAMES.index(name)]
