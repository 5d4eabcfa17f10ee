"""History retention: what a sweep deletes, in how many batches, and when it stops."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from dueq.producer.history import MemoryRunHistory
from dueq.producer.retention import HistoryRetention
from dueq.producer.store import SubmittedRun
from dueq.shared.protocol import make_run_id

NOW = datetime(2026, 3, 8, 12, tzinfo=UTC)
WEEK = timedelta(days=7)


class CountingHistory(MemoryRunHistory):
    """Memory history that counts the purge calls (the batches)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def purge(self, before: datetime, limit: int) -> int:
        self.batches += 1
        return super().purge(before, limit)


def history_with(ages: list[timedelta]) -> CountingHistory:
    history = CountingHistory()
    history.add_submitted(
        [
            SubmittedRun(
                run_id=make_run_id(f"job-{n}", NOW - age),
                job_id=f"job-{n}",
                scheduled_at=NOW - age,
                published_at=NOW - age,
            )
            for n, age in enumerate(ages)
        ]
    )
    return history


def test_a_sweep_deletes_every_run_older_than_the_retention_in_bounded_batches() -> None:
    history = history_with([timedelta(days=8)] * 7 + [timedelta(days=6)] * 3)
    retention = HistoryRetention(history, WEEK, clock=lambda: NOW, batch_rows=3)
    assert retention.sweep(threading.Event()) == 7
    assert history.batches == 3  # 3 + 3 + 1: the short batch says nothing older is left
    assert len(history.get_runs(limit=100)) == 3
    assert all(r.scheduled_at > NOW - WEEK for r in history.get_runs(limit=100))


def test_a_sweep_stops_between_batches_once_stopping_is_set() -> None:
    history = history_with([timedelta(days=8)] * 10)
    stopping = threading.Event()
    stopping.set()
    retention = HistoryRetention(history, WEEK, clock=lambda: NOW, batch_rows=3)
    assert retention.sweep(stopping) == 0
    assert len(history.get_runs(limit=100)) == 10


def test_the_retention_thread_sweeps_only_while_leading() -> None:
    history = history_with([timedelta(days=8)] * 2)
    retention = HistoryRetention(history, WEEK, clock=lambda: NOW)
    stopping = threading.Event()
    checks: list[bool] = []

    def leading() -> bool:
        checks.append(True)
        if len(checks) == 4:
            stopping.set()  # end the thread at its fourth check
        return len(checks) == 3  # lead at the third check only

    retention.run(stopping, leading, every=0.001)
    assert history.batches == 1
    assert history.get_runs(limit=10) == []
