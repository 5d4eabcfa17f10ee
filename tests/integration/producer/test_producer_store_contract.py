"""One contract for every JobStore, LeaderLease and RunHistory: memory, SQLite, PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dueq.producer.backend import Backend
from dueq.producer.history import RunStatus
from dueq.producer.job import Job
from dueq.producer.leader import LeaseLost
from dueq.producer.store import JobUpdate, SubmittedRun
from dueq.shared.errors import ConflictingIdError, JobLookupError
from dueq.shared.protocol import (
    Event,
    ExceptionInfo,
    JobError,
    JobExecuted,
    JobStarted,
    WorkerHeartbeat,
    WorkerOnline,
    make_run_id,
)
from dueq.shared.triggers import CronTrigger, IntervalTrigger
from tests.integration.producer.producer_support import STORE_NOW

T0 = STORE_NOW
LEASE = timedelta(seconds=10)


def a_job(job_id: str, at: datetime | None = T0, **changes: object) -> Job:
    trigger = IntervalTrigger(seconds=10, start_date=T0, timezone="UTC")
    job = Job(
        id=job_id,
        name=f"name-{job_id}",
        func="pkg.jobs:work",
        trigger=trigger,
        args=(1, "a", None, [True]),
        kwargs={"x": {"y": 2.5}},
        misfire_grace_time=30.0,
        coalesce=False,
        max_instances=3,
        queue="q1",
        next_run_time=at,
        next_fire_time=at,
    )
    return job.replace(**changes)


def test_a_job_round_trips_through_the_store(backend: Backend) -> None:
    job = a_job("j")
    backend.store.add_job(job)
    assert backend.store.get_job("j") == job
    assert backend.store.get_job("missing") is None


def test_adding_an_existing_id_conflicts_unless_replacing(backend: Backend) -> None:
    backend.store.add_job(a_job("j"))
    with pytest.raises(ConflictingIdError):
        backend.store.add_job(a_job("j", name="other"))
    backend.store.add_job(a_job("j", name="other"), replace_existing=True)
    stored = backend.store.get_job("j")
    assert stored is not None
    assert stored.name == "other"


def test_update_without_schedule_keeps_the_stored_run_times(backend: Backend) -> None:
    backend.store.add_job(a_job("j"))
    later = T0 + timedelta(hours=1)
    backend.store.update_job(a_job("j", at=later, name="renamed"), schedule=False)
    stored = backend.store.get_job("j")
    assert stored is not None
    assert (stored.name, stored.next_run_time) == ("renamed", T0)
    backend.store.update_job(a_job("j", at=later, trigger=CronTrigger(minute=5, timezone="UTC")))
    stored = backend.store.get_job("j")
    assert stored is not None
    assert stored.next_run_time == later
    assert stored.trigger == CronTrigger(minute=5, timezone="UTC")
    with pytest.raises(JobLookupError):
        backend.store.update_job(a_job("missing"))


def test_remove_and_remove_all(backend: Backend) -> None:
    backend.store.add_job(a_job("a"))
    backend.store.add_job(a_job("b"))
    backend.store.remove_job("a")
    with pytest.raises(JobLookupError):
        backend.store.remove_job("a")
    backend.store.remove_all_jobs()
    assert backend.store.get_jobs() == []


def test_jobs_are_listed_soonest_first_with_paused_ones_last(backend: Backend) -> None:
    backend.store.add_job(a_job("paused", at=None))
    backend.store.add_job(a_job("late", at=T0 + timedelta(hours=2)))
    backend.store.add_job(a_job("soon", at=T0 + timedelta(hours=1)))
    assert [j.id for j in backend.store.get_jobs()] == ["soon", "late", "paused"]
    assert backend.store.get_next_run_time() == T0 + timedelta(hours=1)


def test_due_jobs_come_soonest_first_up_to_the_limit(backend: Backend) -> None:
    for minute in (5, 1, 3, 9):
        backend.store.add_job(a_job(f"m{minute}", at=T0 + timedelta(minutes=minute)))
    backend.store.add_job(a_job("paused", at=None))
    due = backend.store.get_due_jobs(T0 + timedelta(minutes=5), limit=2)
    assert [j.id for j in due] == ["m1", "m3"]
    due = backend.store.get_due_jobs(T0 + timedelta(minutes=5), limit=10)
    assert [j.id for j in due] == ["m1", "m3", "m5"]
    assert due[0] == a_job("m1", at=T0 + timedelta(minutes=1))  # trigger and arguments too


def test_due_jobs_skip_the_excluded_ids_and_still_fill_the_limit(backend: Backend) -> None:
    for minute in (1, 2, 3, 4):
        backend.store.add_job(a_job(f"m{minute}", at=T0 + timedelta(minutes=minute)))
    due = backend.store.get_due_jobs(T0 + timedelta(minutes=5), limit=2, exclude={"m1", "m2"})
    assert [j.id for j in due] == ["m3", "m4"]


def test_commit_advances_removes_and_records_submitted_runs(backend: Backend) -> None:
    for job_id in ("move", "done", "changed"):
        backend.store.add_job(a_job(job_id))
    # "changed" was rescheduled through the API after the loop read it: that wins.
    backend.store.update_job(a_job("changed", at=T0 + timedelta(days=1)))
    nxt = T0 + timedelta(seconds=10)
    updates = [
        JobUpdate(job_id=i, seen_next_run_time=T0, next_run_time=nxt, next_fire_time=nxt)
        for i in ("move", "changed")
    ]
    updates.append(
        JobUpdate(job_id="done", seen_next_run_time=T0, next_run_time=None, next_fire_time=None,
                  remove=True)
    )  # fmt: skip
    run_id = make_run_id("move", T0)
    runs = [SubmittedRun(run_id=run_id, job_id="move", scheduled_at=T0, published_at=T0)]
    lease = backend.leader.acquire("me", T0, LEASE)
    backend.store.commit_batch(updates, runs, lease=lease, now=T0)
    backend.store.commit_batch([], runs, lease=lease, now=T0)  # a republish is a no-op
    moved, changed = backend.store.get_job("move"), backend.store.get_job("changed")
    assert moved is not None
    assert changed is not None
    assert moved.next_run_time == nxt
    assert changed.next_run_time == T0 + timedelta(days=1)
    assert backend.store.get_job("done") is None
    record = backend.history.get_run(run_id)
    assert record is not None
    assert (record.status, record.scheduled_at, record.published_at) == (
        RunStatus.SUBMITTED,
        T0,
        T0,
    )


# Ids that break naive array or JSON formatting: quotes, backslashes, braces, commas,
# NULL-looking text, non-ASCII and a JSON fragment.
ODD_IDS = ['q"uote', "back\\slash", "{brace,comma}", "NULL", "zoë ☃", '"},{"x":1}']


def test_odd_ids_and_microseconds_survive_the_due_query_and_the_batch_commit(
    backend: Backend,
) -> None:
    at = T0 + timedelta(microseconds=123_457)
    for job_id in ODD_IDS:
        backend.store.add_job(a_job(job_id, at=at))
    due = backend.store.get_due_jobs(at, limit=10, exclude={ODD_IDS[0], "other"})
    assert sorted(j.id for j in due) == sorted(ODD_IDS[1:])
    assert all(j.next_run_time == at for j in due)
    nxt = at + timedelta(seconds=10, microseconds=1)
    keep, drop = ODD_IDS[:3], ODD_IDS[3:]
    updates = [
        JobUpdate(job_id=i, seen_next_run_time=at, next_run_time=nxt, next_fire_time=nxt)
        for i in keep
    ] + [
        JobUpdate(job_id=i, seen_next_run_time=at, next_run_time=None, next_fire_time=None,
                  remove=True)
        for i in drop
    ]  # fmt: skip
    runs = [
        SubmittedRun(run_id=make_run_id(i, at), job_id=i, scheduled_at=at, published_at=nxt)
        for i in ODD_IDS
    ]
    lease = backend.leader.acquire("me", T0, LEASE)
    backend.store.commit_batch(updates, runs, lease=lease, now=T0)
    for job_id in keep:
        job = backend.store.get_job(job_id)
        assert job is not None
        assert (job.next_run_time, job.next_fire_time) == (nxt, nxt)
    assert [backend.store.get_job(i) for i in drop] == [None] * len(drop)
    for run in runs:
        record = backend.history.get_run(run.run_id)
        assert record is not None
        assert (record.job_id, record.scheduled_at, record.published_at) == (run.job_id, at, nxt)


def test_commit_is_refused_once_the_lease_is_no_longer_current(backend: Backend) -> None:
    backend.store.add_job(a_job("j"))
    lease = backend.leader.acquire("old", T0, LEASE)
    assert lease is not None
    later = T0 + LEASE + timedelta(seconds=1)
    assert backend.leader.acquire("new", later, LEASE) is not None
    update = JobUpdate(job_id="j", seen_next_run_time=T0, next_run_time=later, next_fire_time=later)
    with pytest.raises(LeaseLost):
        backend.store.commit_batch([update], [], lease=lease, now=later)
    stored = backend.store.get_job("j")
    assert stored is not None
    assert stored.next_run_time == T0


def test_the_lease_is_exclusive_until_it_expires_and_the_epoch_rises(backend: Backend) -> None:
    first = backend.leader.acquire("a", T0, LEASE)
    assert first is not None
    assert first.epoch == 1
    assert backend.leader.acquire("b", T0 + timedelta(seconds=5), LEASE) is None
    renewed = backend.leader.acquire("a", T0 + timedelta(seconds=5), LEASE)
    assert renewed is not None
    assert (renewed.epoch, renewed.expires_at) == (1, T0 + timedelta(seconds=15))
    taken = backend.leader.acquire("b", T0 + timedelta(seconds=16), LEASE)
    assert taken is not None
    assert (taken.holder, taken.epoch) == ("b", 2)
    backend.leader.release(taken, T0 + timedelta(seconds=17))
    again = backend.leader.acquire("a", T0 + timedelta(seconds=17), LEASE)
    assert again is not None
    assert again.epoch == 3
    current = backend.leader.current()
    assert current is not None
    assert current.holder == "a"


def _about_run(**fields: object) -> dict[str, object]:
    return {
        "worker_id": "w1", "hostname": "h", "pid": 1, "emitted_at": T0,
        "run_id": make_run_id("j", T0), "job_id": "j", "scheduled_at": T0, **fields,
    }  # fmt: skip


def _known(backend: Backend, *job_ids: str) -> None:
    """History records runs of existing jobs only: add them."""
    for job_id in job_ids:
        backend.store.add_job(a_job(job_id))


def test_history_moves_forward_only_and_tracks_workers(backend: Backend) -> None:
    _known(backend, "j")
    executed = JobExecuted(
        **_about_run(started_at=T0, finished_at=T0, duration_s=0.5, lateness_s=0.1, retval={"n": 1})  # type: ignore[arg-type]
    )
    backend.history.record(executed, T0)
    late_start = JobStarted(**_about_run(started_at=T0, lateness_s=0.1))  # type: ignore[arg-type]
    backend.history.record(late_start, T0)
    record = backend.history.get_run(make_run_id("j", T0))
    assert record is not None
    assert (record.status, record.retval, record.duration_s) == (RunStatus.EXECUTED, {"n": 1}, 0.5)
    online = WorkerOnline(
        worker_id="w1", hostname="h", pid=1, emitted_at=T0, queues=["q1"], concurrency=4,
        executor="thread", version="1",
    )  # fmt: skip
    backend.history.record(online, T0)
    beat = WorkerHeartbeat(
        worker_id="w1", hostname="h", pid=1, emitted_at=T0, queues=["q1"], running=2, capacity=4
    )
    backend.history.record(beat, T0 + timedelta(seconds=5))
    [worker] = backend.history.get_workers()
    assert (worker.status, worker.running, worker.queues) == ("online", 2, ("q1",))
    assert worker.last_seen_at == T0 + timedelta(seconds=5)


def _run_events(job_id: str) -> tuple[JobStarted, JobExecuted]:
    fields = {**_about_run(), "job_id": job_id, "run_id": make_run_id(job_id, T0)}
    started = JobStarted(**fields, started_at=T0, lateness_s=0.1)  # type: ignore[arg-type]
    executed = JobExecuted(
        **fields,  # type: ignore[arg-type]
        started_at=T0, finished_at=T0, duration_s=0.5, lateness_s=0.1, retval=job_id,
    )  # fmt: skip
    return started, executed


def test_a_batch_keeps_each_runs_furthest_status_whatever_its_order(backend: Backend) -> None:
    _known(backend, "a", "b", "c")
    started_a, executed_a = _run_events("a")
    started_b, executed_b = _run_events("b")
    started_c, _ = _run_events("c")
    backend.history.record_many([executed_a, started_a, started_b, executed_b, started_c], T0)

    statuses = {r.job_id: (r.status, r.retval) for r in backend.history.get_runs(limit=10)}
    assert statuses == {
        "a": (RunStatus.EXECUTED, "a"),
        "b": (RunStatus.EXECUTED, "b"),
        "c": (RunStatus.STARTED, None),
    }


def test_a_later_batch_never_moves_a_run_back_and_repeats_change_nothing(
    backend: Backend,
) -> None:
    _known(backend, "a")
    started, executed = _run_events("a")
    backend.history.record_many([executed], T0)
    backend.history.record_many([started, started], T0 + timedelta(seconds=1))
    backend.history.record_many([executed], T0 + timedelta(seconds=2))

    [record] = backend.history.get_runs(limit=10)
    assert (record.status, record.retval) == (RunStatus.EXECUTED, "a")


# Values a batch's rows carry as text, numbers and JSON: quotes, escapes, non-ASCII,
# NULL-looking text, JSON fragments, extreme finite floats, microseconds.
ODD_RETVALS: list[object] = [
    {"nested": [1, 2.5e-300, 1.7976931348623157e308, -0.0, "zoë ☃", None, {"": True}]},
    'NULL "},{"x":1} q"uote\\n',
    None,
]  # fmt: skip


def test_odd_values_survive_recording_a_batch_and_updating_it(backend: Backend) -> None:
    at = T0 + timedelta(microseconds=654_321)
    _known(backend, *ODD_IDS)
    events: list[Event] = []
    for n, job_id in enumerate(ODD_IDS):
        about = {**_about_run(), "job_id": job_id, "run_id": make_run_id(job_id, at),
                 "scheduled_at": at, "worker_id": f"w'{job_id}"}  # fmt: skip
        started = JobStarted(**about, started_at=at, lateness_s=1e-6)  # type: ignore[arg-type]
        finished = {"started_at": at, "finished_at": at + timedelta(microseconds=n),
                    "duration_s": n * 1e-6, "lateness_s": 1e-6}  # fmt: skip
        outcome: Event
        if n % 2:
            info = ExceptionInfo(type=f"pkg.{n}Error", message=f"{job_id}\n\t'x'", traceback="tb ☃")
            outcome = JobError(**about, **finished, exception=info)  # type: ignore[arg-type]
        else:
            outcome = JobExecuted(**about, **finished, retval=ODD_RETVALS[n // 2])  # type: ignore[arg-type]
        events += [started, outcome]
    backend.history.record_many(events[::2], T0)  # the starts insert the rows
    backend.history.record_many(events[1::2], T0)  # the outcomes update them

    for n, job_id in enumerate(ODD_IDS):
        record = backend.history.get_run(make_run_id(job_id, at))
        assert record is not None
        assert (record.job_id, record.worker_id, record.scheduled_at) == (job_id, f"w'{job_id}", at)
        assert record.finished_at == at + timedelta(microseconds=n)
        assert record.duration_s == n * 1e-6
        if n % 2:
            assert record.status is RunStatus.ERROR
            assert (record.exception_type, record.exception_message) == (
                f"pkg.{n}Error",
                f"{job_id}\n\t'x'",
            )
        else:
            assert (record.status, record.retval) == (RunStatus.EXECUTED, ODD_RETVALS[n // 2])


def test_runs_are_filtered_by_a_window_of_scheduled_times(backend: Backend) -> None:
    _known(backend, "j")
    times = [T0 + timedelta(hours=h) for h in range(4)]
    started = [
        JobStarted(
            **_about_run(run_id=make_run_id("j", at), scheduled_at=at),  # type: ignore[arg-type]
            started_at=T0,
            lateness_s=0.0,
        )
        for at in times
    ]
    backend.history.record_many(started, T0)

    window = backend.history.get_runs(limit=10, since=times[1], until=times[2])
    later = backend.history.get_runs(limit=10, since=times[3])

    assert [r.scheduled_at for r in window] == [times[2], times[1]]
    assert [r.scheduled_at for r in later] == [times[3]]


def test_purge_deletes_the_oldest_runs_before_the_cutoff_a_bounded_batch_at_a_time(
    backend: Backend,
) -> None:
    _known(backend, "j")
    times = [T0 + timedelta(minutes=m) for m in range(5)]
    started = [
        JobStarted(
            **_about_run(run_id=make_run_id("j", at), scheduled_at=at),  # type: ignore[arg-type]
            started_at=at,
            lateness_s=0.0,
        )
        for at in times
    ]
    backend.history.record_many(started, T0)
    cutoff = T0 + timedelta(minutes=3)  # runs at 0, 1 and 2 minutes are older
    assert backend.history.purge(cutoff, 2) == 2
    assert [r.scheduled_at for r in backend.history.get_runs(limit=10)] == times[:1:-1]
    assert backend.history.purge(cutoff, 2) == 1
    assert backend.history.purge(cutoff, 2) == 0
    assert [r.scheduled_at for r in backend.history.get_runs(limit=10)] == times[:2:-1]


def test_a_forged_outcome_never_replaces_the_first_and_is_counted(backend: Backend) -> None:
    _known(backend, "a")
    _, executed = _run_events("a")
    backend.history.record_many([executed], T0)
    forged = executed.model_copy(update={"retval": "FORGED RESULT", "worker_id": "evil-worker"})
    backend.history.record_many([forged, executed], T0 + timedelta(seconds=1))

    [record] = backend.history.get_runs(limit=10)
    assert (record.retval, record.worker_id) == ("a", executed.worker_id)
    assert backend.history.conflicts == 1  # the repeat of the real report is no conflict


def test_reports_of_unknown_jobs_or_unbound_run_ids_make_no_ghost_runs(backend: Backend) -> None:
    _known(backend, "victim")
    _, ghost = _run_events("no-such-job")
    _, victim = _run_events("victim")
    squatter = victim.model_copy(update={"job_id": "other", "retval": "squatted"})
    backend.history.record_many([ghost, squatter], T0)
    assert backend.history.get_runs(limit=10) == []
    backend.history.record_many([victim], T0)
    [record] = backend.history.get_runs(limit=10)
    assert (record.job_id, record.retval) == ("victim", "victim")
