"""AndTrigger and OrTrigger: schedules built from other triggers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.arguments import check_jitter
from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.spec import AndSpec, OrSpec
from dueq.shared.triggers.zones import MICROSECOND, require_aware, to_utc

__all__ = ["AndTrigger", "OrTrigger"]

# Members that never agree (an interval whose grid never meets a cron minute) would make
# the AND search run forever.  Every round moves to a time some member fires at, and real
# schedules agree within a handful of rounds, so 10,000 rounds means "never".
MAX_AND_ROUNDS = 10_000


class _CombiningTrigger(Trigger):
    """Shared construction, JSON and text of AND and OR."""

    kind = ""
    triggers: tuple[Trigger, ...]

    def __init__(self, triggers: Iterable[Trigger], jitter: float | None = None) -> None:
        if isinstance(triggers, Trigger) or not isinstance(triggers, Iterable):
            raise InvalidTriggerError("triggers", triggers, "expected a list of triggers")
        members = tuple(triggers)
        if not members:
            raise InvalidTriggerError("triggers", [], "needs at least one trigger")
        for member in members:
            if not isinstance(member, Trigger):
                raise InvalidTriggerError("triggers", member, "is not a Trigger")
        self._freeze(triggers=members, jitter=check_jitter(jitter))

    def _start(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        require_aware(now, "now")
        if previous_fire_time is None:
            return now
        # Add in UTC: adding to a wall-clock datetime in a fold would forget which
        # occurrence it was (the sum always has fold=0).
        return to_utc(require_aware(previous_fire_time, "previous_fire_time")) + MICROSECOND

    def to_dict(self) -> dict[str, Any]:
        members = [member.to_dict() for member in self.triggers]
        model = AndSpec if self.kind == "and" else OrSpec
        spec = model.model_validate({"triggers": members, "jitter": self.jitter})
        return spec.model_dump(mode="json", exclude_none=True)

    def __str__(self) -> str:
        return f"{self.kind}[{', '.join(str(member) for member in self.triggers)}]"

    def __repr__(self) -> str:
        jitter = f", jitter={self.jitter}" if self.jitter else ""
        return f"<{type(self).__name__}({list(self.triggers)!r}{jitter})>"


class AndTrigger(_CombiningTrigger):
    """Fires at the earliest time every member fires at; exhausted when any member is.

    As in APScheduler 3, it asks every member for its next time from a moment and moves
    the moment to the latest answer until all agree.  Members that have not agreed after
    ``MAX_AND_ROUNDS`` rounds are treated as never agreeing (exhausted).
    """

    kind = "and"

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return self.next_fire_time_from(self._start(previous_fire_time, now))

    def next_fire_time_from(self, moment: datetime) -> datetime | None:
        for _ in range(MAX_AND_ROUNDS):
            answers = [member.next_fire_time_from(moment) for member in self.triggers]
            known = [answer for answer in answers if answer is not None]
            if len(known) < len(answers):
                return None
            latest = max(known, key=to_utc)
            if all(to_utc(answer) == to_utc(latest) for answer in known):
                return known[0]
            moment = latest
        return None

    def latest_fire_time(self) -> datetime | None:
        ends = [end for member in self.triggers if (end := member.latest_fire_time()) is not None]
        return min(ends, key=to_utc) if ends else None


class OrTrigger(_CombiningTrigger):
    """Fires whenever any member fires (the earliest of their next times).

    Every member is asked from the same moment (just after the previous fire time), so an
    interval member keeps its own grid even when another member fired in between.
    """

    kind = "or"

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            require_aware(now, "now")
            # As a DateTrigger alone, a member's past run date still counts the first time.
            answers = [member.get_next_fire_time(None, now) for member in self.triggers]
            return _earliest(answers)
        return self.next_fire_time_from(self._start(previous_fire_time, now))

    def next_fire_time_from(self, moment: datetime) -> datetime | None:
        return _earliest([member.next_fire_time_from(moment) for member in self.triggers])

    def latest_fire_time(self) -> datetime | None:
        ends = [member.latest_fire_time() for member in self.triggers]
        known = [end for end in ends if end is not None]
        return max(known, key=to_utc) if len(known) == len(ends) else None


def _earliest(answers: list[datetime | None]) -> datetime | None:
    known = [answer for answer in answers if answer is not None]
    return min(known, key=to_utc) if known else None
