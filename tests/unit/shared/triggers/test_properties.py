"""Properties of the triggers over random expressions, zones and moments (hypothesis).

The cron properties compare the trigger with a brute-force oracle of the DST policy
(``_is_due``) minute by minute, around the DST changes of the zone under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dueq.shared.triggers import CronTrigger, IntervalTrigger, trigger_from_dict

# 200 examples per property keep the whole trigger suite to about ten seconds.
EXAMPLES = settings(max_examples=200, deadline=None)
# Zones with the instants (UTC) of a spring-forward and a fall-back change.
DST_CHANGES = {
    "Europe/Berlin": [datetime(2024, 3, 31, 1, tzinfo=UTC), datetime(2024, 10, 27, 1, tzinfo=UTC)],
    "America/New_York": [
        datetime(2013, 3, 10, 7, tzinfo=UTC),
        datetime(2013, 11, 3, 6, tzinfo=UTC),
    ],
    "Europe/Helsinki": [
        datetime(2024, 3, 31, 1, tzinfo=UTC),
        datetime(2024, 10, 27, 1, tzinfo=UTC),
    ],
    "Australia/Lord_Howe": [  # 30-minute changes
        datetime(2024, 10, 5, 15, 30, tzinfo=UTC),
        datetime(2024, 4, 6, 15, tzinfo=UTC),
    ],
    "UTC": [datetime(2024, 2, 29, tzinfo=UTC)],
}
ZONES = sorted(DST_CHANGES)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
FIRES = 15
# How far after each fire the oracle checks, minute by minute, that nothing was skipped.
CHECKED_SPAN = timedelta(hours=2)


@st.composite
def _ranges(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    first, last = sorted(draw(st.lists(st.integers(low, high), min_size=2, max_size=2)))
    step = draw(st.integers(1, last - first)) if last > first and draw(st.booleans()) else None
    text = f"{first}-{last}"
    if names is not None:
        text = f"{names[first - low]}-{names[last - low]}"
    return text if step is None else f"{text}/{step}"


def _field(
    low: int, high: int, steps: list[int], names: list[str] | None = None
) -> st.SearchStrategy[str]:
    single = st.integers(low, high).map(str)
    listed = st.lists(st.integers(low, high), min_size=2, max_size=3, unique=True)
    return st.one_of(
        st.just("*"),
        st.sampled_from(steps).map(lambda step: f"*/{step}"),
        single,
        listed.map(lambda values: ",".join(map(str, sorted(values)))),
        _ranges(low, high),
        _ranges(low, high, names) if names else single,
    )


DAYS = st.one_of(
    st.just("*"),
    _field(1, 31, [2, 10]),
    st.just("last"),
    st.tuples(
        st.sampled_from(["1st", "2nd", "3rd", "4th", "5th", "last"]), st.sampled_from(WEEKDAYS)
    ).map(" ".join),
)


# Built once: strategies made inside a composite are rebuilt (and re-described) per draw.
MONTH_FIELDS = _field(1, 12, [2, 3], MONTHS)
WEEK_FIELDS = st.sampled_from(["*", "*", "*/2", "1-30"])
WEEKDAY_FIELDS = st.one_of(st.just("*"), _field(0, 6, [2, 3], WEEKDAYS))
HOUR_FIELDS = st.one_of(st.just("*"), _field(0, 23, [2, 3, 6]))
MINUTE_FIELDS = _field(0, 59, [5, 7, 15, 30])


@st.composite
def cron_triggers(draw: st.DrawFn, zone: str | None = None) -> CronTrigger:
    """A random valid CronTrigger on whole minutes, biased towards frequent schedules."""
    sparse = draw(st.booleans())
    return CronTrigger(
        month=draw(MONTH_FIELDS) if sparse else "*",
        day=draw(DAYS) if sparse else "*",
        week=draw(WEEK_FIELDS),
        day_of_week=draw(WEEKDAY_FIELDS),
        hour=draw(HOUR_FIELDS),
        minute=draw(MINUTE_FIELDS),
        second="0",
        timezone=zone or draw(st.sampled_from(ZONES)),
        day_or=draw(st.booleans()) if sparse else False,
    )


ANYWHERE = st.datetimes(datetime(2000, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC))
MINUTES_AROUND_A_CHANGE = st.integers(-36 * 60, 12 * 60)


@st.composite
def triggers_and_moments(draw: st.DrawFn) -> tuple[CronTrigger, datetime]:
    """A trigger and a moment, usually within a day and a half of one of its zone's changes."""
    zone = draw(st.sampled_from(ZONES))
    if draw(st.integers(0, 2)):
        change = draw(st.sampled_from(DST_CHANGES[zone]))
        moment = change + timedelta(minutes=draw(MINUTES_AROUND_A_CHANGE))
    else:
        moment = draw(ANYWHERE)
    return draw(cron_triggers(zone)), moment


def _walk(trigger: CronTrigger, now: datetime, count: int = FIRES) -> list[datetime]:
    found: list[datetime] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        if previous is None:
            break
        found.append(previous)
    return found


def _is_due(trigger: CronTrigger, instant: datetime) -> bool:
    """The DST policy, applied by brute force to one whole-minute instant (the oracle).

    Due: the instant shows a matching label for the first time (or at all, when every
    hour is allowed), or it is where a matching label skipped by a gap is moved to.
    """
    zone = trigger.timezone
    local = instant.astimezone(zone)
    if trigger.matches(local.replace(tzinfo=None)) and (local.fold == 0 or trigger.every_hour):
        return True
    nearby = {(instant + timedelta(hours=h)).astimezone(zone).utcoffset() for h in (-3, 3)}
    for offset in nearby - {local.utcoffset()}:
        assert offset is not None
        label = (instant.astimezone(UTC) + offset).replace(tzinfo=None)
        moved = label.replace(tzinfo=zone, fold=0)
        in_gap = moved.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != label
        if in_gap and moved.astimezone(UTC) == instant and trigger.matches(label):
            return True
    return False


def _minutes_after(earlier: datetime, later: datetime) -> list[datetime]:
    """Whole-minute instants after ``earlier`` and before ``later``, at most CHECKED_SPAN."""
    first = earlier.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    last = min(later.astimezone(UTC), first + CHECKED_SPAN)
    count = -(-(last - first) // timedelta(minutes=1))  # rounded up
    return [first + timedelta(minutes=n) for n in range(max(count, 0))]


@EXAMPLES
@given(triggers_and_moments())
def test_cron_fire_times_strictly_increase_and_are_all_due(
    case: tuple[CronTrigger, datetime],
) -> None:
    trigger, now = case

    fires = _walk(trigger, now)

    instants = [fire.astimezone(UTC) for fire in fires]
    assert instants == sorted(set(instants))
    assert all(instant >= now for instant in instants)
    assert all(fire.tzinfo == trigger.timezone for fire in fires)
    assert all(_is_due(trigger, fire) for fire in fires)


@EXAMPLES
@given(triggers_and_moments())
def test_cron_skips_no_due_time_before_or_between_fires(
    case: tuple[CronTrigger, datetime],
) -> None:
    trigger, now = case

    fires = _walk(trigger, now)

    checked = [now - timedelta(minutes=1), *fires] if fires else []
    for earlier, later in pairwise(checked):
        for moment in _minutes_after(earlier, later):
            assert moment < now or not _is_due(trigger, moment), moment


@EXAMPLES
@given(triggers_and_moments())
def test_cron_fires_each_wall_clock_time_once_unless_every_hour_is_allowed(
    case: tuple[CronTrigger, datetime],
) -> None:
    trigger, now = case

    labels = [fire.replace(tzinfo=None) for fire in _walk(trigger, now, 24)]

    if not trigger.every_hour:
        assert len(labels) == len(set(labels))


@EXAMPLES
@given(
    cron_triggers(),
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.integers(0, 90 * 24 * 60),
)
def test_cron_fires_stay_inside_start_and_end(
    trigger: CronTrigger, start: datetime, minutes: int
) -> None:
    end = start + timedelta(minutes=minutes)
    bounds = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    bounded = trigger_from_dict({**trigger.to_dict(), **bounds})
    assert isinstance(bounded, CronTrigger)

    for fire in _walk(bounded, start - timedelta(days=3)):
        assert start <= fire.astimezone(UTC) <= end


@EXAMPLES
@given(cron_triggers())
def test_cron_json_round_trip_gives_an_equal_trigger(trigger: CronTrigger) -> None:
    assert trigger_from_dict(json.loads(json.dumps(trigger.to_dict()))) == trigger


@EXAMPLES
@given(
    st.integers(1, 10 * 24 * 3600),
    st.floats(0, 7200, allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(ZONES),
    st.datetimes(datetime(2000, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_jitter_stays_between_the_fire_and_the_next_and_never_drifts(
    seconds: int, jitter: float, key: str, zone: str, start: datetime
) -> None:
    trigger = IntervalTrigger(seconds=seconds, start_date=start, timezone=zone, jitter=jitter)
    previous = None
    for runs in range(1, 51):
        nominal = trigger.get_next_fire_time(previous, start)
        assert nominal is not None
        following = trigger.get_next_fire_time(nominal, start)
        assert following is not None

        run = trigger.jittered(nominal, following, key)

        # Compare in UTC: Python compares and subtracts same-zone datetimes by wall clock,
        # and a fold time is never == to a time in another zone (PEP 495).
        assert nominal.astimezone(UTC) <= run.astimezone(UTC) < following.astimezone(UTC)
        assert run.astimezone(UTC) - nominal.astimezone(UTC) <= timedelta(seconds=jitter)
        assert run == trigger.jittered(nominal, following, key)
        assert nominal.astimezone(UTC) == start + (runs - 1) * timedelta(seconds=seconds)
        previous = nominal


@EXAMPLES
@given(st.sampled_from(ZONES), st.integers(-36 * 60, 36 * 60), st.integers(1, 5 * 3600))
def test_interval_fires_are_exactly_one_interval_apart_in_every_zone(
    zone: str, minutes: int, seconds: int
) -> None:
    start = DST_CHANGES[zone][0] + timedelta(minutes=minutes)
    trigger = IntervalTrigger(seconds=seconds, start_date=start, timezone=ZoneInfo(zone))
    previous = trigger.get_next_fire_time(None, start)
    assert previous is not None
    for _ in range(20):
        fire = trigger.get_next_fire_time(previous, start)
        assert fire is not None
        assert fire.astimezone(UTC) - previous.astimezone(UTC) == timedelta(seconds=seconds)
        previous = fire
