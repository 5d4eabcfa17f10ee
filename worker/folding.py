"""Folded starts: a short job reports one event, its outcome, instead of two.

Every run used to cost its worker two confirmed publishes, ``job_started`` and then the
outcome, and its scheduler two history writes: half of the broker thread's work per run
for a job that ends in microseconds.  The outcome already says when the job started
(``started_at``, ``lateness_s``), and the scheduler records the start from it
(docs/protocol.md, "Folded starts").  So the broker thread holds each ``job_started`` back
for a short window: if the run's outcome arrives meanwhile, the start is dropped and the
outcome carries it; if not, the start goes out when the window ends, and ``dueq runs``
shows the run running while it runs.

A worker killed within the window of a start leaves no ``started`` row behind: the run
stays ``submitted`` until it is redelivered or taken over, as a run killed just before its
start would.
"""

from __future__ import annotations

from collections.abc import Sequence

from dueq.worker.outbox import Outbound

__all__ = ["FOLD_WINDOW_S", "StartFolder"]

# How long a job_started waits for its run's outcome.  Long enough for a no-op job on a
# loaded machine; short enough that a running job shows as started at once to a person.
FOLD_WINDOW_S = 0.02


class StartFolder:
    """The starts the broker thread holds back; used by that thread only."""

    def __init__(self, window: float = FOLD_WINDOW_S) -> None:
        self._window = window
        self._waiting: dict[str, tuple[float, Outbound]] = {}

    def sort(self, items: Sequence[Outbound], now: float) -> list[Outbound]:
        """What of ``items`` (and of the starts held back) to handle now, in order.

        A start whose outcome is among ``items`` is dropped (folded into it); another start
        waits until its window has passed.  Every other item is handled now.
        """
        ended = {item.outcome_of for item in items if item.outcome_of is not None}
        for run_id in ended.intersection(self._waiting):
            del self._waiting[run_id]
        ready: list[Outbound] = []
        for item in items:
            if item.start_of is None:
                ready.append(item)
            elif item.start_of not in ended:
                self._waiting[item.start_of] = (now + self._window, item)
        due = [run_id for run_id, (until, _) in self._waiting.items() if until <= now]
        return [self._waiting.pop(run_id)[1] for run_id in due] + ready

    def seconds_to_next(self, now: float) -> float | None:
        """Seconds until the next held start is due to go out; None if none is held."""
        if not self._waiting:
            return None
        return max(min(until for until, _ in self._waiting.values()) - now, 0.0)

    def take_all(self) -> list[Outbound]:
        """Every start held back (the worker is stopping: they go out as they are)."""
        waiting = [item for _, item in self._waiting.values()]
        self._waiting.clear()
        return waiting
