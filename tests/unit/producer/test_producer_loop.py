"""The loop, one tick at a time, on the memory store, lease and publisher with a fake clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dueq.producer import loop as loop_module
from dueq.producer.history import MemoryRunHistory, RunStatus
from dueq.producer.job import Job
from dueq.producer.jobspec import schedule
from dueq.producer.leader import LeaseLost, MemoryLeaderLease
from dueq.producer.leadership import Leadership
from dueq.producer.listeners import EVENT_JOB_REMOVED, EVENT_JOB_SUBMITTED, SchedulerEvent
from dueq.producer.loop import SchedulingLoop
from dueq.producer.planner import Batch, plan_batch
from dueq.producer.publisher import MemoryRunPublisher, SentRuns
from dueq.producer.settings import SchedulerSettings
from dueq.producer.store import MemoryJobStore
from dueq.shared.protocol import make_run_id
from dueq.shared.protocol.runbytes import EncodedRun
from dueq.shared.triggers import CronTrigger, DateTrigger, IntervalTrigger, Trigger

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=15)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Rig:
    """A loop wired to in-memory ports, plus handles on all of them."""

    def __init__(
        self,
        *,
        holder: str = "me",
        batch_size: int = 500,
        cap: int = 1000,
        lookahead: float = 0.25,
        store_type: type[MemoryJobStore] = MemoryJobStore,
    ) -> None:
        self.clock = FakeClock(T0)
        self.lease = MemoryLeaderLease()
        self.history = MemoryRunHistory()
        self.store = store_type(leader=self.lease, history=self.history)
        self.publisher = MemoryRunPublisher()
        self.events: list[SchedulerEvent] = []
        self.failures_left = 0
        settings = SchedulerSettings(
            scheduler_id=holder,
            batch_size=batch_size,
            max_catchup_runs=cap,
            lookahead_seconds=lookahead,
        )
        self.leadership = Leadership(self.lease, holder, LEASE)
        self.loop = SchedulingLoop(
            store=self.store,
            leadership=self.leadership,
            publisher=self.publisher,
            settings=settings,
            emit=self.events.append,
            clock=self.clock,
            after_publish=self._after_publish,
        )

    def _after_publish(self, runs: list[EncodedRun]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("crash between publish and commit")

    def add(self, job_id: str, trigger: Trigger, **options: object) -> Job:
        run, fire = schedule(trigger, job_id, self.clock())
        job = Job(
            id=job_id,
            name=job_id,
            func="jobs:work",
            trigger=trigger,
            args=(1, "two"),
            kwargs={"k": [3]},
            next_run_time=run,
            next_fire_time=fire,
        ).replace(**options)
        self.store.add_job(job)
        return job

    def times(self) -> list[datetime]:
        return [run.scheduled_at for run in self.publisher.runs]


def every(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, start_date=T0, timezone="UTC")


def test_an_interval_job_publishes_a_run_request_with_every_protocol_field() -> None:
    rig = Rig()
    rig.add("j", every(10), queue="reports", misfire_grace_time=5.0, max_instances=2)
    result = rig.loop.tick()
    assert result.leader
    [run] = rig.publisher.runs
    assert run.run_id == make_run_id("j", T0)
    assert (run.job_id, run.job_name, run.func) == ("j", "j", "jobs:work")
    assert (run.args, run.kwargs) == ([1, "two"], {"k": [3]})
    assert (run.scheduled_at, run.published_at) == (T0, T0)
    assert (run.misfire_grace_time, run.max_instances, run.queue) == (5.0, 2, "reports")
    assert run.epoch == 1
    assert result.wake_at == T0 + timedelta(seconds=5)  # the lease renewal comes first
    assert rig.store.get_next_run_time() == T0 + timedelta(seconds=10)


def test_runs_come_at_the_right_times_and_the_loop_sleeps_until_the_next_one() -> None:
    rig = Rig()
    rig.clock.advance(0.5)
    rig.add("cron", CronTrigger(second="*/4", timezone="UTC"))
    while rig.clock() < T0 + timedelta(seconds=17):
        result = rig.loop.tick()
        assert result.wake_at > rig.clock()
        rig.clock.now = result.wake_at
    assert rig.times() == [T0 + timedelta(seconds=s) for s in (4, 8, 12, 16)]


def test_runs_due_within_the_lookahead_are_published_ahead_and_the_loop_wakes_that_early() -> None:
    rig = Rig(lookahead=0.25)
    rig.add("every10", every(10))
    rig.loop.tick()  # the run at T0
    rig.publisher.clear()
    rig.clock.now = T0 + timedelta(seconds=9.7)
    assert rig.loop.tick().published == 0  # 0.3 s ahead: outside the window
    rig.clock.now = T0 + timedelta(seconds=9.8)
    result = rig.loop.tick()
    assert result.published == 1
    assert rig.times() == [T0 + timedelta(seconds=10)]  # its own time, not the publish time
    assert rig.publisher.runs[0].published_at == T0 + timedelta(seconds=9.8)
    assert rig.store.get_next_run_time() == T0 + timedelta(seconds=20)
    # Asleep until the next run has been in the window for 25 ms, or the lease renewal if
    # sooner.
    assert result.wake_at == min(
        T0 + timedelta(seconds=19.775), rig.leadership.next_check(rig.clock())
    )


def test_a_steady_stream_goes_out_in_batches_each_run_early_by_the_window_less_25_ms() -> None:
    rig = Rig(lookahead=0.25)
    for i in range(200):  # 200 one-second jobs spread over the second: a run every 5 ms
        start = T0 + timedelta(seconds=1 + i / 200)
        rig.add(f"j{i}", IntervalTrigger(seconds=1, start_date=start, timezone="UTC"))
    ticks = 0
    while rig.clock() < T0 + timedelta(seconds=3):
        result = rig.loop.tick()
        ticks += 1
        rig.clock.now = result.wake_at
    assert len(rig.publisher.runs) >= 400
    leads = [run.scheduled_at - run.published_at for run in rig.publisher.runs]
    assert min(leads) >= timedelta(seconds=0.225)
    assert max(leads) <= timedelta(seconds=0.25)
    # About one tick per 25 ms (a renewal of the lease may add one), not one per run.
    assert ticks <= 3 / 0.025 + 3


def test_without_lookahead_a_run_is_published_only_once_due() -> None:
    rig = Rig(lookahead=0)
    rig.add("every10", every(10))
    rig.loop.tick()  # the run at T0
    rig.clock.now = T0 + timedelta(seconds=9.999)
    assert rig.loop.tick().published == 0
    rig.clock.now = T0 + timedelta(seconds=10)
    assert rig.loop.tick().published == 1


def test_a_date_job_runs_once_and_is_removed() -> None:
    rig = Rig()
    rig.add("once", DateTrigger(T0 + timedelta(seconds=3), timezone="UTC"))
    rig.clock.advance(3)
    rig.loop.tick()
    rig.clock.advance(60)
    rig.loop.tick()
    assert rig.times() == [T0 + timedelta(seconds=3)]
    assert rig.store.get_job("once") is None
    assert [e.code for e in rig.events] == [EVENT_JOB_SUBMITTED, EVENT_JOB_REMOVED]


def test_a_paused_job_publishes_nothing_and_continues_after_resume() -> None:
    rig = Rig()
    job = rig.add("j", every(10))
    rig.store.update_job(job.replace(next_run_time=None, next_fire_time=None))
    rig.clock.advance(35)
    rig.loop.tick()
    assert rig.publisher.runs == []
    run, fire = schedule(job.trigger, "j", rig.clock())
    rig.store.update_job(job.replace(next_run_time=run, next_fire_time=fire))
    rig.clock.advance(5)
    rig.loop.tick()
    assert rig.times() == [T0 + timedelta(seconds=40)]


def test_coalesce_collapses_missed_runs_into_the_newest() -> None:
    rig = Rig()
    rig.add("j", every(10), coalesce=True)
    rig.clock.advance(95)
    rig.loop.tick()
    assert rig.times() == [T0 + timedelta(seconds=90)]


def test_without_coalesce_each_missed_run_is_published_within_the_cap() -> None:
    rig = Rig(cap=5)
    rig.add("all", every(10), coalesce=False)
    rig.clock.advance(35)
    rig.loop.tick()
    assert rig.times() == [T0 + timedelta(seconds=s) for s in (0, 10, 20, 30)]
    rig.publisher.clear()
    rig.clock.advance(3600)
    rig.loop.tick()
    assert len(rig.publisher.runs) == 5  # the cap; the rest up to now are skipped
    assert rig.store.get_next_run_time() == rig.clock() + timedelta(seconds=5)


def test_a_crash_between_publish_and_commit_republishes_the_same_run_ids() -> None:
    rig = Rig()
    rig.add("j", every(10), coalesce=False)
    rig.clock.advance(20)
    rig.failures_left = 1
    with pytest.raises(RuntimeError, match="crash"):
        rig.loop.tick()
    first = [run.run_id for run in rig.publisher.runs]
    assert rig.store.get_next_run_time() == T0  # nothing was committed
    rig.loop.tick()
    again = [run.run_id for run in rig.publisher.runs][len(first) :]
    assert again == first
    assert len(first) == 3


def test_published_runs_are_recorded_as_submitted() -> None:
    rig = Rig()
    rig.add("j", every(10))
    rig.loop.tick()
    [record] = rig.history.get_runs("j")
    assert record.status is RunStatus.SUBMITTED
    assert record.run_id == make_run_id("j", T0)


def test_a_scheduler_without_the_lease_publishes_nothing() -> None:
    rig = Rig()
    rig.lease.acquire("someone-else", T0, LEASE)
    rig.add("j", every(10))
    result = rig.loop.tick()
    assert not result.leader
    assert rig.publisher.runs == []


def test_a_leader_whose_lease_runs_low_stops_publishing_before_it_expires() -> None:
    rig = Rig()
    rig.add("j", every(1))
    rig.loop.tick()
    # Renewals fail from now on (say the database is unreachable): the old lease is kept.
    rig.leadership._port = _FailingLease()
    rig.clock.advance(11)  # 4 s of the 15 s lease left: less than a third
    with pytest.raises(Exception, match="unreachable"):
        rig.loop.tick()
    rig.leadership._renew_at = rig.clock() + LEASE  # pretend the renewal is not due
    with pytest.raises(LeaseLost):
        rig.loop.tick()
    assert rig.times() == [T0]


class _FailingLease(MemoryLeaderLease):
    def acquire(self, holder: str, now: datetime, duration: timedelta) -> None:
        raise RuntimeError("database unreachable")


def test_a_commit_after_another_scheduler_took_over_is_refused() -> None:
    rig = Rig()
    rig.add("j", every(10))
    rig.loop.tick()
    rig.clock.advance(10)
    # The lease passes to another holder behind this leader's back (it stalled).
    rig.lease.release(rig.leadership.lease, rig.clock())  # type: ignore[arg-type]
    rig.lease.acquire("standby", rig.clock(), LEASE)
    rig.leadership._renew_at = rig.clock() + LEASE
    with pytest.raises(LeaseLost):
        rig.loop.tick()
    assert rig.store.get_next_run_time() == T0 + timedelta(seconds=10)


def test_a_full_batch_asks_for_an_immediate_next_tick() -> None:
    rig = Rig(batch_size=3)
    for index in range(5):
        rig.add(f"j{index}", every(60))
    first = rig.loop.tick()
    assert first.published == 3
    assert first.wake_at == rig.clock()
    assert first.more  # the service tells the events consumer a burst is going out
    second = rig.loop.tick()
    assert second.published == 2
    assert second.wake_at > rig.clock()
    assert not second.more


def test_a_burst_is_pipelined_each_batch_committed_after_the_next_one_is_sent() -> None:
    rig = Rig(batch_size=2)
    for index in range(11):
        rig.add(f"j{index}", every(60))
    assert rig.loop.tick().published == 2
    assert len(rig.publisher.runs) == 2
    assert rig.history.get_runs(limit=20) == []  # sent, not committed yet
    # The next batch skips the two in flight, and is larger: the first was full.
    assert rig.loop.tick().published == 8  # the first is being committed meanwhile
    last = rig.loop.tick()
    assert last.published == 1  # 32 allowed, 1 left: partial
    assert last.wake_at > rig.clock()  # a partial batch: everything committed, sleep
    assert len({run.job_id for run in rig.publisher.runs}) == 11
    assert len(rig.publisher.runs) == 11
    assert len(rig.history.get_runs(limit=20)) == 11
    assert rig.store.get_next_run_time() == T0 + timedelta(seconds=60)


def test_a_large_batch_is_written_part_by_part_and_every_part_confirmed_before_the_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = Rig(batch_size=1200)
    for index in range(1200):
        rig.add(f"j{index}", every(60))
    steps: list[tuple[str, int]] = []
    plan = plan_batch
    send, confirm = rig.publisher.send_runs, rig.publisher.confirm_runs

    def planning(jobs: Sequence[Job], **kwargs: Any) -> Batch:
        steps.append(("plan", len(jobs)))
        return plan(jobs, **kwargs)

    def sending(runs: Sequence[EncodedRun]) -> SentRuns:
        steps.append(("send", len(runs)))
        return send(runs)

    def confirming(sent: SentRuns) -> None:
        steps.append(("confirm", len(sent.runs)))
        confirm(sent)

    monkeypatch.setattr(loop_module, "plan_batch", planning)
    monkeypatch.setattr(rig.publisher, "send_runs", sending)
    monkeypatch.setattr(rig.publisher, "confirm_runs", confirming)
    assert rig.loop.tick().published == 1200
    rig.loop.drain()
    # The broker takes each part while the next is planned; the batch commits once all of it
    # is confirmed, as one batch.
    assert steps == [
        ("plan", 500), ("send", 500), ("plan", 500), ("send", 500), ("plan", 200), ("send", 200),
        ("confirm", 500), ("confirm", 500), ("confirm", 200),
    ]  # fmt: skip
    assert len(rig.history.get_runs(limit=2000)) == 1200


def test_batches_grow_while_full_up_to_sixteen_times_the_batch_size_then_start_over() -> None:
    rig = Rig(batch_size=1)
    for index in range(40):
        rig.add(f"j{index}", every(60))
    sizes = [rig.loop.tick().published for _ in range(5)]
    assert sizes == [1, 4, 16, 16, 3]  # x4 while full, capped at 16 x 1; 3 left: partial
    rig.clock.advance(60)
    assert rig.loop.tick().published == 1  # the next burst starts small again


def test_a_failure_mid_burst_drops_the_batch_in_flight_so_it_is_published_again() -> None:
    rig = Rig(batch_size=2)
    for index in range(4):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()  # batch 1 in flight
    rig.failures_left = 1  # batch 1's commit fails once batch 2 was sent
    with pytest.raises(RuntimeError, match="crash"):
        rig.loop.tick()
    assert rig.history.get_runs(limit=10) == []
    sent_before = [run.run_id for run in rig.publisher.runs]
    rig.loop.tick()
    rig.loop.tick()
    rig.loop.tick()
    again = [run.run_id for run in rig.publisher.runs][len(sent_before) :]
    assert sorted(again) == sorted(sent_before)  # the same four run ids, published again
    assert len(rig.history.get_runs(limit=10)) == 4


def test_drain_commits_the_batch_in_flight() -> None:
    rig = Rig(batch_size=2)
    for index in range(3):
        rig.add(f"j{index}", every(60))
    rig.loop.tick()
    rig.loop.drain()
    assert len(rig.history.get_runs(limit=10)) == 2
    rig.loop.drain()  # nothing left: a no-op
    assert len(rig.history.get_runs(limit=10)) == 2


def test_a_job_that_cannot_be_planned_is_paused_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.add("good", every(10))
    rig.add("bad", every(10), name="")  # the protocol refuses an empty job name
    rig.loop.tick()
    assert [run.job_id for run in rig.publisher.runs] == ["good"]
    bad = rig.store.get_job("bad")
    assert bad is not None
    assert bad.paused
    assert "bad cannot be scheduled" in caplog.text
