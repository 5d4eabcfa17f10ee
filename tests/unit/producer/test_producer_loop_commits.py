"""During a burst a confirmed batch commits on a helper thread while the next one is sent."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from datetime import datetime

import pytest

from dueq.producer.job import Job
from dueq.producer.leader.base import Lease
from dueq.producer.store import JobUpdate, MemoryJobStore, SubmittedRun
from tests.unit.producer.test_producer_loop import Rig, every

# Longest wait for the helper thread in a test; the commits here take microseconds.
WAIT_S = 10.0


class GatedStore(MemoryJobStore):
    """Holds each commit until ``gate`` opens; the next due fetch opens it."""

    gate: threading.Event
    committing: threading.Event
    excluded: list[frozenset[str]]

    def open_gate_on_fetch(self) -> None:
        self._open_on_fetch = True

    def get_due_jobs(
        self, now: datetime, limit: int, *, exclude: Collection[str] = ()
    ) -> list[Job]:
        self.excluded.append(frozenset(exclude))
        due = super().get_due_jobs(now, limit, exclude=exclude)
        if getattr(self, "_open_on_fetch", False):
            self.gate.set()
        return due

    def commit_batch(
        self,
        updates: Sequence[JobUpdate],
        runs: Sequence[SubmittedRun],
        *,
        lease: Lease | None,
        now: datetime,
    ) -> None:
        self.committing.set()
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        super().commit_batch(updates, runs, lease=lease, now=now)


class FailingOnceStore(MemoryJobStore):
    """The first commit fails (the database went away mid-burst)."""

    failed = False

    def commit_batch(
        self,
        updates: Sequence[JobUpdate],
        runs: Sequence[SubmittedRun],
        *,
        lease: Lease | None,
        now: datetime,
    ) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("commit lost")
        super().commit_batch(updates, runs, lease=lease, now=now)


def gated_rig() -> tuple[Rig, GatedStore]:
    rig = Rig(batch_size=2, store_type=GatedStore)
    store = rig.store
    assert isinstance(store, GatedStore)
    store.gate, store.committing, store.excluded = threading.Event(), threading.Event(), []
    return rig, store


def test_a_tick_returns_while_the_previous_batch_still_commits_and_skips_its_jobs() -> None:
    rig, store = gated_rig()
    for index in range(11):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()  # batch 1 (2 runs) sent
    assert rig.loop.tick().published == 8  # batch 2 sent; batch 1 confirmed, committing
    assert store.committing.wait(WAIT_S)
    assert rig.history.get_runs(limit=20) == []  # batch 1's commit is held at the gate
    first_two = {run.job_id for run in rig.publisher.runs[:2]}
    store.open_gate_on_fetch()
    last = rig.loop.tick()
    # The third fetch skipped batch 1 (still committing) as well as batch 2 (in flight).
    assert store.excluded[-1] >= first_two
    assert len(store.excluded[-1]) == 10
    assert last.published == 1
    assert len(rig.publisher.runs) == 11  # nothing published twice
    assert len(rig.history.get_runs(limit=20)) == 11  # all committed before it returned


def test_a_commit_failing_on_its_thread_fails_the_next_tick_and_its_runs_go_out_again() -> None:
    rig = Rig(batch_size=2, store_type=FailingOnceStore)
    for index in range(11):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()
    rig.loop.tick()  # batch 1's commit fails on its thread
    with pytest.raises(RuntimeError, match="commit lost"):
        rig.loop.tick()  # ... and its failure surfaces here
    sent_before = [run.run_id for run in rig.publisher.runs]
    while rig.loop.tick().more:
        pass
    again = [run.run_id for run in rig.publisher.runs][len(sent_before) :]
    assert sorted(again) == sorted(sent_before)  # the same run ids, published again
    assert len(rig.history.get_runs(limit=20)) == 11


def test_drain_waits_for_the_commit_running_on_its_thread() -> None:
    rig, store = gated_rig()
    for index in range(11):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()
    rig.loop.tick()
    assert store.committing.wait(WAIT_S)
    store.gate.set()
    rig.loop.drain()  # before a pause or a stop: both batches committed
    assert len(rig.history.get_runs(limit=20)) == 10
    assert not [t for t in threading.enumerate() if t.name == "dueq-scheduler-commit"]
