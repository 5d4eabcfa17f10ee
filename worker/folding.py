"""Folded starts: a short job reports one event, its outcome, instead of two.

Every run used to cost its worker two confirmed publishes, ``job_started`` and then the
outcome, and its scheduler two history writes: half of the broker thread's work per run
for a job that ends in microseconds.  The outcome already says when the job started
(``started_at``, ``lateness_s``), and the scheduler records the start from it
(docs/protocol.md, "Folded starts").  So the broker thread holds each ``job_started`` back
for a short window: if the run's outcome arrives meanwhile, the start is dropped and the
outcome carries it; if not, the start goes out when the window ends, and ``dueq runs``
shows the run running while it runs.

A start is built (its event made, encoded and signed) only once it is to be sent: a folded
one costs its closure (0.3 us), where building it to drop it cost 27 us unsigned.  So
``dueq_worker_events_total`` counts the starts sent, not the folded ones.

A worker killed within the window of a start leaves no ``started`` row behind: the run
stays ``submitted`` until it is redelivered or taken over, as a run killed just before its
start would.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

from dueq.worker.outbox import Outbound

__all__ = ["FOLD_WINDOW_S", "StartFolder"]

log = logging.getLogger(__name__)

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
        return _built(self._waiting.pop(run_id)[1] for run_id in due) + ready

    def seconds_to_next(self, now: float) -> float | None:
        """Seconds until the next held start is due to go out; None if none is held."""
        if not self._waiting:
            return None
        return max(min(until for until, _ in self._waiting.values()) - now, 0.0)

    def take_all(self) -> list[Outbound]:
        """Every start held back (the worker is stopping: they go out as they are)."""
        waiting = _built(item for _, item in self._waiting.values())
        self._waiting.clear()
        return waiting


def _built(starts: Iterable[Outbound]) -> list[Outbound]:
    """``starts`` with their messages built, to be sent.

    A start that cannot be built is left out (logged): its run's outcome carries the start.
    """
    built = []
    for item in starts:
        if item.build is None:
            built.append(item)
            continue
        try:
            built.append(dataclasses.replace(item, messages=item.build(), build=None))
        except Exception:  # a last guard: the broker thread must go on
            log.exception("the job_started of run %s cannot be built", item.start_of)
    return built
