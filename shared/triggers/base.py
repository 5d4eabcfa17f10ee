"""The Trigger contract every schedule in dueq follows.

Triggers are immutable values: the scheduler stores them as JSON, rebuilds them in any
process and asks them one question, "when next?", passing the previous fire time.
They keep no state between calls.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any

from dueq.shared.triggers.jitter import jitter_delay
from dueq.shared.triggers.zones import MICROSECOND, require_aware, to_utc

__all__ = ["Trigger"]


class Trigger(ABC):
    """When a job runs: a pure function from (previous fire time, now) to the next one.

    Subclasses are immutable and compare by value (by their JSON form).
    """

    jitter: float | None = None
    """Most seconds a run may be delayed by ``jittered``; None or 0 means no jitter."""

    @abstractmethod
    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The nominal next fire time (aware, in the trigger's zone), None when exhausted.

        ``previous_fire_time`` is the nominal time the trigger gave last (None at first);
        the walk then continues from just after it, however late ``now`` is, so the
        scheduler can enumerate every missed time.  Without it, the walk starts at
        ``max(now, start_date)`` and ``now`` itself may fire.  Results strictly increase.

        Unlike APScheduler 3, no jitter is added here: a jittered time fed back as the
        previous fire time makes interval triggers drift.  Use ``jittered``.
        """

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form, with a ``type`` key; ``trigger_from_dict`` inverts it."""

    def next_fire_time_from(self, moment: datetime) -> datetime | None:
        """The first nominal fire time at or after ``moment``, ignoring any previous one.

        Combining triggers use it to ask each member the same question.
        """
        return self.get_next_fire_time(None, moment)

    def jittered(
        self, fire_time: datetime, following_fire_time: datetime | None, key: str
    ) -> datetime:
        """``fire_time`` delayed by a deterministic amount of jitter.

        The delay is in ``[0, jitter)``, shorter than the time to ``following_fire_time``
        (so a run never reaches the next one), never past the trigger's end, and the same
        for the same ``key`` (e.g. the job id) and nominal time.
        """
        require_aware(fire_time, "fire_time")
        if not self.jitter:
            return fire_time
        limit = timedelta(seconds=self.jitter)
        if following_fire_time is not None:
            limit = min(limit, to_utc(following_fire_time) - to_utc(fire_time) - MICROSECOND)
        deadline = self.latest_fire_time()
        if deadline is not None:
            limit = min(limit, to_utc(deadline) - to_utc(fire_time) + MICROSECOND)
        delay = jitter_delay(key, fire_time, limit)
        if delay == timedelta(0):
            return fire_time
        assert fire_time.tzinfo is not None
        return (fire_time.astimezone(UTC) + delay).astimezone(fire_time.tzinfo)

    def latest_fire_time(self) -> datetime | None:
        """The last instant a run may happen (the end date), None when unbounded."""
        return None

    def _json_key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trigger):
            return NotImplemented
        return self._json_key() == other._json_key()

    def __hash__(self) -> int:
        return hash(self._json_key())

    # Only triggers that called _freeze are locked, so a test double that sets its own
    # attributes in __init__ keeps working.
    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; build a new trigger")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__delattr__(self, name)

    def _freeze(self, **values: object) -> None:
        """Set the attributes from ``__init__``; afterwards none can change."""
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_frozen", True)
