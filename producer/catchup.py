"""Which run-times of one due job to publish now, and where its schedule continues.

APScheduler's rule: every run-time missed since the stored next run time is run, or only
the newest with ``coalesce``.  The documented cap, ``max_catchup_runs``, bounds the work
after a very long downtime:

* ``coalesce=True``: only the newest missed run-time is published.  The walk through the
  missed times stops after ``cap`` steps and then jumps: it probes the trigger for its
  first fire time in windows ``[now - d, now]`` of doubling ``d`` (the trigger answers that
  directly), so a job missed for a year costs a few dozen trigger calls, not a year of them.
* ``coalesce=False``: the oldest ``cap`` missed run-times are published; if more were
  missed, the rest up to now are skipped (``RunPlan.truncated``, logged as a warning) and
  the job continues at its first fire time after now.

Jitter is applied per run (``Trigger.jittered`` keyed by the job id) but the walk always
continues from the nominal time, so jitter never accumulates into drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dueq.shared.triggers import Trigger

__all__ = ["RunPlan", "Slot", "first_slot", "plan_runs"]

_MICROSECOND = timedelta(microseconds=1)
# First probe window of the coalesce jump; it doubles until a fire time lands inside.
_FIRST_PROBE = timedelta(seconds=1)


@dataclass(frozen=True, kw_only=True)
class Slot:
    """One run-time of a job: the trigger's nominal time and the jittered time it runs at."""

    fire_time: datetime
    run_time: datetime


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """What to publish for one job (``run_times``, oldest first) and its next slot.

    ``next_slot`` is None when the trigger is exhausted (the job is removed).
    ``truncated`` is True when missed run-times beyond the cap were skipped.
    """

    run_times: list[datetime] = field(default_factory=list)
    next_slot: Slot | None = None
    truncated: bool = False


def first_slot(trigger: Trigger, key: str, now: datetime) -> Slot | None:
    """The slot a new or resumed job starts at (the first fire time at or after ``now``)."""
    fire = trigger.get_next_fire_time(None, now)
    return None if fire is None else _slot(trigger, key, fire, now)


def plan_runs(
    trigger: Trigger, key: str, start: Slot, now: datetime, *, coalesce: bool, cap: int
) -> RunPlan:
    """Plan the due run-times of a job whose stored next slot is ``start``."""
    taken, rest = _walk(trigger, key, start, now, cap)
    truncated = False
    if rest is not None and rest.run_time <= now:  # the cap stopped the walk
        if coalesce:
            newest = _newest_due(trigger, key, rest, now)
            if newest is not None:
                more, rest = _walk(trigger, key, newest, now, cap)
                taken = more or taken
        else:
            rest = _slot_after(trigger, key, max(now, taken[-1].fire_time), now)
            truncated = True
    chosen = taken[-1:] if coalesce else taken
    return RunPlan(
        run_times=[slot.run_time for slot in chosen], next_slot=rest, truncated=truncated
    )


def _slot(trigger: Trigger, key: str, fire: datetime, now: datetime) -> Slot:
    if not trigger.jitter:
        return Slot(fire_time=fire, run_time=fire)
    following = trigger.get_next_fire_time(fire, now)
    return Slot(fire_time=fire, run_time=trigger.jittered(fire, following, key))


def _walk(
    trigger: Trigger, key: str, start: Slot, now: datetime, limit: int
) -> tuple[list[Slot], Slot | None]:
    """Take due slots from ``start`` on, at most ``limit``; return them and the next slot."""
    taken: list[Slot] = []
    current: Slot | None = start
    following = trigger.get_next_fire_time(start.fire_time, now)
    while current is not None and current.run_time <= now and len(taken) < limit:
        taken.append(current)
        if following is None:
            return taken, None
        after = trigger.get_next_fire_time(following, now)
        current = Slot(fire_time=following, run_time=trigger.jittered(following, after, key))
        following = after
    return taken, current


def _newest_due(trigger: Trigger, key: str, rest: Slot, now: datetime) -> Slot | None:
    """A due slot close before ``now``, found by probing windows that end at ``now``."""
    span = _FIRST_PROBE
    while now - span > rest.fire_time:
        fire = trigger.next_fire_time_from(now - span)
        if fire is None:
            return None
        if fire <= now:
            return _slot(trigger, key, fire, now)
        span *= 2
    return None


def _slot_after(trigger: Trigger, key: str, moment: datetime, now: datetime) -> Slot | None:
    fire = trigger.next_fire_time_from(moment + _MICROSECOND)
    return None if fire is None else _slot(trigger, key, fire, now)
