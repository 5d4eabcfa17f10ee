"""The JSON form of every trigger, as pydantic models (the store and consumers read it).

One model per trigger type, told apart by ``type``.  Datetimes are ISO 8601 with their
offset, zones are IANA names.  The models check the *shape*; the trigger constructors,
which ``trigger_from_dict`` calls, check the meaning (a cron field's syntax, a zone name).

Every model, and the union's adapter, builds its validator on first use (``defer_build``):
reading a cron job validates with ``CronSpec`` alone, so ``dueq jobs list`` does not pay
for building the other five.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeFloat, TypeAdapter

__all__ = [
    "SPEC_MODELS",
    "AndSpec",
    "AnySpec",
    "CalendarIntervalSpec",
    "CronSpec",
    "DateSpec",
    "IntervalSpec",
    "OrSpec",
    "TriggerSpec",
    "trigger_spec_adapter",
]

Quantity = Annotated[int | float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, defer_build=True)


class CronSpec(_Spec):
    """A CronTrigger; unset fields are omitted (they take APScheduler's defaults)."""

    type: Literal["cron"] = "cron"
    year: str | None = None
    month: str | None = None
    day: str | None = None
    week: str | None = None
    day_of_week: str | None = None
    hour: str | None = None
    minute: str | None = None
    second: str | None = None
    day_or: bool = False
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    timezone: str
    jitter: NonNegativeFloat | None = None


class IntervalSpec(_Spec):
    """An IntervalTrigger; the interval is the sum of the parts."""

    type: Literal["interval"] = "interval"
    weeks: Quantity = 0
    days: Quantity = 0
    hours: Quantity = 0
    minutes: Quantity = 0
    seconds: Quantity = 0
    start_date: AwareDatetime
    end_date: AwareDatetime | None = None
    timezone: str
    jitter: NonNegativeFloat | None = None


class DateSpec(_Spec):
    """A DateTrigger."""

    type: Literal["date"] = "date"
    run_date: AwareDatetime
    timezone: str


class CalendarIntervalSpec(_Spec):
    """A CalendarIntervalTrigger; start and end are dates in the trigger's zone."""

    type: Literal["calendarinterval"] = "calendarinterval"
    years: Count = 0
    months: Count = 0
    weeks: Count = 0
    days: Count = 0
    hour: Count = 0
    minute: Count = 0
    second: Count = 0
    start_date: date
    end_date: date | None = None
    timezone: str
    jitter: NonNegativeFloat | None = None


class AndSpec(_Spec):
    """An AndTrigger over its member triggers."""

    type: Literal["and"] = "and"
    triggers: list[TriggerSpec] = Field(min_length=1)
    jitter: NonNegativeFloat | None = None


class OrSpec(_Spec):
    """An OrTrigger over its member triggers."""

    type: Literal["or"] = "or"
    triggers: list[TriggerSpec] = Field(min_length=1)
    jitter: NonNegativeFloat | None = None


AnySpec = CronSpec | IntervalSpec | DateSpec | CalendarIntervalSpec | AndSpec | OrSpec
"""Any trigger's validated JSON form."""

TriggerSpec = Annotated[AnySpec, Field(discriminator="type")]
"""Any trigger's JSON form; validate with ``trigger_spec_adapter``."""

SPEC_MODELS: dict[str, type[AnySpec]] = {
    model.model_fields["type"].default: model for model in get_args(AnySpec)
}
"""Each model by its ``type``: one trigger's JSON is validated by its own model alone."""

trigger_spec_adapter: TypeAdapter[AnySpec] = TypeAdapter(
    TriggerSpec, config=ConfigDict(defer_build=True)
)
