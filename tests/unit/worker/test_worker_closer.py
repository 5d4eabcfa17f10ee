"""The claim closer: finishes and releases written in batches, kept through outages."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import RunRequest, make_run_id
from dueq.worker.claims import ClaimStatus, Duplicate, MemoryClaimStore
from dueq.worker.closer import ClaimCloser
from dueq.worker.leases import RunningRuns
from tests.support.waiting import wait_until

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FlakyDurableStore(MemoryClaimStore):
    """A store that says it is durable and fails its first ``failures`` writes."""

    durable = True

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.batches: list[list[str]] = []
        self.gate = threading.Event()  # set: writes may go through
        self.gate.set()

    def finish_many(self, run_ids: Sequence[str], now: datetime) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("postgresql://db", "connection refused")
        self.gate.wait(10)  # a write that would succeed waits here while the gate is shut
        self.batches.append(list(run_ids))
        super().finish_many(run_ids, now)


def _claimed(store: MemoryClaimStore, running: RunningRuns, count: int) -> list[str]:
    runs = [
        RunRequest(run_id=make_run_id(f"j{n}", NOW), job_id=f"j{n}", job_name="j",
                   func="m:f", scheduled_at=NOW, published_at=NOW, epoch=1)
        for n in range(count)
    ]  # fmt: skip
    store.claim_many(runs, "w", NOW, timedelta(seconds=30))
    running.add_many(r.run_id for r in runs)
    return [r.run_id for r in runs]


def test_finishes_waiting_together_are_written_in_one_batch() -> None:
    store, running = FlakyDurableStore(failures=0), RunningRuns()
    ids = _claimed(store, running, 5)
    closer = ClaimCloser(claims=store, running=running, clock=lambda: NOW)
    closer.start()
    store.gate.clear()  # hold the first write so the rest queue up behind it
    closer.finish(ids[0])
    for run_id in ids[1:]:
        closer.finish(run_id)
    store.gate.set()
    closer.stop(timeout=10)
    assert sorted(run_id for batch in store.batches for run_id in batch) == sorted(ids)
    assert len(store.batches) <= 2
    assert store.lookup(ids[-1], NOW) == Duplicate(ClaimStatus.FINISHED)
    assert running.snapshot() == []


def test_a_finish_is_retried_through_an_outage_and_renewed_until_it_is_written() -> None:
    store, running = FlakyDurableStore(failures=2), RunningRuns()
    (run_id,) = _claimed(store, running, 1)
    closer = ClaimCloser(claims=store, running=running, clock=lambda: NOW)
    closer.start()
    store.gate.clear()
    closer.finish(run_id)
    wait_until(lambda: store.failures == 0, "two failed attempts", timeout=10)
    assert run_id in running.snapshot()  # unwritten: its lease must go on being renewed
    assert store.lookup(run_id, NOW) == Duplicate(ClaimStatus.RUNNING)
    store.gate.set()
    wait_until(lambda: bool(store.batches), "the finish written", timeout=10)
    assert running.snapshot() == []
    closer.stop(timeout=10)
    assert store.lookup(run_id, NOW) == Duplicate(ClaimStatus.FINISHED)
