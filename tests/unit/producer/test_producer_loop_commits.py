"""During a burst a confirmed batch commits on a helper thread while the next one is sent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

import pytest

from dueq.producer.history.memory import MemoryRunHistory
from dueq.producer.job import Job
from dueq.producer.leader.base import Lease
from dueq.producer.leader.memory import MemoryLeaderLease
from dueq.producer.store import JobUpdate, MemoryJobStore, SubmittedRun
from tests.unit.producer.test_producer_loop import Rig, every

# Longest wait for the helper thread in a test; the commits here take microseconds.
WAIT_S = 10.0


class HookedStore(MemoryJobStore):
    """Records each due fetch's exclusions; calls ``before_commit`` before each commit."""

    def __init__(
        self, leader: MemoryLeaderLease | None = None, history: MemoryRunHistory | None = None
    ) -> None:
        super().__init__(leader, history)
        self.excluded: list[frozenset[str]] = []
        self.on_fetch: Callable[[], None] = lambda: None
        self.before_commit: Callable[[], None] = lambda: None

    def get_due_jobs(
        self, now: datetime, limit: int, *, exclude: Collection[str] = ()
    ) -> list[Job]:
        self.excluded.append(frozenset(exclude))
        due = super().get_due_jobs(now, limit, exclude=exclude)
        self.on_fetch()
        return due

    def commit_batch(
        self,
        updates: Sequence[JobUpdate],
        runs: Sequence[SubmittedRun],
        *,
        lease: Lease | None,
        now: datetime,
    ) -> None:
        self.before_commit()
        super().commit_batch(updates, runs, lease=lease, now=now)


def hooked_rig() -> tuple[Rig, HookedStore]:
    rig = Rig(batch_size=2, store_type=HookedStore)
    store = rig.store
    assert isinstance(store, HookedStore)
    return rig, store


def gated_rig() -> tuple[Rig, HookedStore, threading.Event, threading.Event]:
    """Each commit signals ``committing``, then waits until ``gate`` opens."""
    rig, store = hooked_rig()
    gate, committing = threading.Event(), threading.Event()

    def hold() -> None:
        committing.set()
        assert gate.wait(WAIT_S), "the test never opened the gate"

    store.before_commit = hold
    return rig, store, gate, committing


def test_a_tick_returns_while_the_previous_batch_still_commits_and_skips_its_jobs() -> None:
    rig, store, gate, committing = gated_rig()
    for index in range(11):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()  # batch 1 (2 runs) sent
    assert rig.loop.tick().published == 8  # batch 2 sent; batch 1 confirmed, committing
    assert committing.wait(WAIT_S)
    assert rig.history.get_runs(limit=20) == []  # batch 1's commit is held at the gate
    first_two = {run.job_id for run in rig.publisher.runs[:2]}
    store.on_fetch = gate.set
    last = rig.loop.tick()
    # The third fetch skipped batch 1 (still committing) as well as batch 2 (in flight).
    assert store.excluded[-1] >= first_two
    assert len(store.excluded[-1]) == 10
    assert last.published == 1
    assert len(rig.publisher.runs) == 11  # nothing published twice
    assert len(rig.history.get_runs(limit=20)) == 11  # all committed before it returned


def test_a_commit_failing_on_its_thread_fails_the_next_tick_and_its_runs_go_out_again() -> None:
    rig, store = hooked_rig()
    failures = ["commit lost"]

    def fail_once() -> None:  # the database went away mid-burst
        if failures:
            raise RuntimeError(failures.pop())

    store.before_commit = fail_once
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
    rig, _, gate, committing = gated_rig()
    for index in range(11):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()
    rig.loop.tick()
    assert committing.wait(WAIT_S)
    gate.set()
    rig.loop.drain()  # before a pause or a stop: both batches committed
    assert len(rig.history.get_runs(limit=20)) == 10
    assert not [t for t in threading.enumerate() if t.name == "dueq-scheduler-commit"]
