"""One contract suite for every ClaimStore: memory, SQLite and PostgreSQL (psycopg's
pipelined statements, and SQLAlchemy's, which other PostgreSQL drivers take)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dueq.shared.db import create_engine, upgrade_schema
from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import RunRequest, decode_run, make_run_id
from dueq.worker.claims import (
    Claimed,
    ClaimStatus,
    ClaimStore,
    Duplicate,
    Full,
    MemoryClaimStore,
    SqlClaimStore,
    pipelined,
)

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def make_run(job_id: str = "job-1", minute: int = 0, max_instances: int = 1) -> RunRequest:
    scheduled = NOW + timedelta(minutes=minute)
    return RunRequest(
        run_id=make_run_id(job_id, scheduled),
        job_id=job_id,
        job_name=job_id,
        func="tests.jobs:noop",
        scheduled_at=scheduled,
        published_at=scheduled,
        max_instances=max_instances,
        epoch=1,
    )


@pytest.fixture(params=["memory", "sqlite", "postgresql", "postgresql-sqlalchemy"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClaimStore]:
    if request.param == "memory":
        yield MemoryClaimStore()
        return
    if request.param == "postgresql-sqlalchemy":
        monkeypatch.setattr(pipelined, "supports", lambda _connection: False)
    url_fixture = "sqlite_url" if request.param == "sqlite" else "pg_schema_url"
    engine = create_engine(request.getfixturevalue(url_fixture), pre_ping=False)  # as workers
    upgrade_schema(engine)
    sql_store = SqlClaimStore(engine)
    yield sql_store
    sql_store.close()


def test_a_free_slot_is_claimed_and_the_same_run_then_is_a_duplicate(store: ClaimStore) -> None:
    run = make_run()
    assert store.lookup(run.run_id, NOW) is None
    assert store.claim(run, "w1", NOW, LEASE) == Claimed()
    assert store.claim(run, "w2", NOW, LEASE) == Duplicate(ClaimStatus.RUNNING)
    assert store.lookup(run.run_id, NOW) == Duplicate(ClaimStatus.RUNNING)


def test_a_finished_run_stays_a_duplicate_and_frees_its_slot(store: ClaimStore) -> None:
    first, second = make_run(minute=0), make_run(minute=1)
    store.claim(first, "w1", NOW, LEASE)
    assert store.claim(second, "w1", NOW, LEASE) == Full(1)
    store.finish(first.run_id, NOW)
    assert store.claim(first, "w2", NOW + LEASE * 10, LEASE) == Duplicate(ClaimStatus.FINISHED)
    assert store.claim(second, "w1", NOW, LEASE) == Claimed()


def test_max_instances_counts_only_the_jobs_own_live_claims(store: ClaimStore) -> None:
    runs = [make_run(minute=m, max_instances=2) for m in range(3)]
    assert store.claim(make_run("other-job"), "w1", NOW, LEASE) == Claimed()
    assert store.claim(runs[0], "w1", NOW, LEASE) == Claimed()
    assert store.claim(runs[1], "w2", NOW, LEASE) == Claimed()
    assert store.claim(runs[2], "w3", NOW, LEASE) == Full(2)


def test_an_expired_lease_frees_the_slot_and_the_run_can_be_taken_over(
    store: ClaimStore,
) -> None:
    first, second = make_run(minute=0), make_run(minute=1)
    store.claim(first, "dead", NOW, LEASE)
    later = NOW + LEASE + timedelta(seconds=1)
    assert store.lookup(first.run_id, later) is None
    assert store.claim(second, "w2", later, LEASE) == Claimed()
    store.finish(second.run_id, later)
    assert store.claim(first, "w2", later, LEASE) == Claimed(taken_over=True)


def test_renewing_keeps_the_slot_taken_past_the_first_lease(store: ClaimStore) -> None:
    first, second = make_run(minute=0), make_run(minute=1)
    store.claim(first, "w1", NOW, LEASE)
    assert store.renew("w1", [first.run_id], NOW + LEASE * 2) == {first.run_id: None}
    assert store.renew("someone-else", [first.run_id], NOW + LEASE * 9) == {}
    assert store.claim(second, "w2", NOW + LEASE + timedelta(seconds=1), LEASE) == Full(1)


def test_a_cancel_request_reaches_the_older_live_claims_of_the_job_at_their_renewal(
    store: ClaimStore,
) -> None:
    old = make_run(minute=0, max_instances=3)
    dead = make_run(minute=1, max_instances=3)
    other_job = make_run("job-2", minute=0)
    newer = make_run(minute=2, max_instances=3)
    store.claim(dead, "dead", NOW - LEASE, LEASE)  # its lease has lapsed: nobody to ask
    store.claim(old, "w1", NOW, LEASE)
    store.claim(other_job, "w1", NOW, LEASE)
    store.claim(newer, "w2", NOW, LEASE)

    assert store.request_cancel(old.job_id, newer.run_id, NOW) == 1
    # A third run asks only the one not asked yet; the old one keeps its first asker.
    assert store.request_cancel(old.job_id, "a-third-run", NOW) == 1
    renewed = store.renew("w1", [old.run_id, other_job.run_id], NOW + LEASE)
    assert renewed == {old.run_id: newer.run_id, other_job.run_id: None}
    assert store.renew("w2", [newer.run_id], NOW + LEASE) == {newer.run_id: "a-third-run"}


def test_expired_claims_are_abandoned_once_and_returned_again_if_not_reclaimed(
    store: ClaimStore,
) -> None:
    run = make_run()
    store.claim(run, "dead", NOW, LEASE)
    assert store.abandon_expired(NOW, LEASE) == []
    later = NOW + LEASE
    (expired,) = store.abandon_expired(later, LEASE)
    assert (expired.run_id, expired.job_id, expired.worker_id) == (run.run_id, run.job_id, "dead")
    assert decode_run(expired.payload.encode()) == run
    assert store.abandon_expired(later, LEASE) == []
    assert store.renew("dead", [run.run_id], later + LEASE) == {}
    assert [e.run_id for e in store.abandon_expired(later + LEASE, LEASE)] == [run.run_id]
    assert store.claim(run, "w2", later + LEASE, LEASE) == Claimed(taken_over=True)
    assert store.abandon_expired(later + LEASE, LEASE) == []


def test_a_released_claim_is_forgotten(store: ClaimStore) -> None:
    run = make_run()
    store.claim(run, "w1", NOW, LEASE)
    store.release(run.run_id)
    assert store.lookup(run.run_id, NOW) is None
    assert store.claim(run, "w2", NOW, LEASE) == Claimed()


def test_purging_old_finished_claims_ends_their_dedupe(store: ClaimStore) -> None:
    old, recent = make_run(minute=0), make_run(minute=1, max_instances=2)
    store.claim(old, "w1", NOW, LEASE)
    store.claim(recent, "w1", NOW, LEASE)
    store.finish(old.run_id, NOW)
    store.finish(recent.run_id, NOW + timedelta(hours=1))
    assert store.purge_finished(NOW + timedelta(minutes=30)) == 1
    assert store.lookup(old.run_id, NOW) is None
    assert store.lookup(recent.run_id, NOW) == Duplicate(ClaimStatus.FINISHED)


def test_concurrent_claimers_never_exceed_max_instances(store: ClaimStore) -> None:
    runs = [make_run(minute=m, max_instances=2) for m in range(12)]
    results: list[object] = []
    barrier = threading.Barrier(len(runs))

    def claim(run: RunRequest) -> None:
        barrier.wait()
        results.append(store.claim(run, f"w-{run.run_id[:4]}", NOW, LEASE))

    threads = [threading.Thread(target=claim, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, Claimed) for r in results) == 2
    assert sum(isinstance(r, Full) for r in results) == 10


# -- batches ------------------------------------------------------------------------


def test_a_batch_with_two_runs_of_one_job_admits_only_max_instances(store: ClaimStore) -> None:
    first, second = make_run(minute=0), make_run(minute=1)
    assert store.claim_many([first, second], "w1", NOW, LEASE) == [Claimed(), Full(1)]
    both = [make_run("pair", minute=m, max_instances=2) for m in range(2)]
    assert store.claim_many(both, "w1", NOW, LEASE) == [Claimed(), Claimed()]
    assert store.lookup_many([r.run_id for r in both], NOW) == {
        r.run_id: Duplicate(ClaimStatus.RUNNING) for r in both
    }


def test_the_same_run_twice_in_one_batch_is_claimed_once(store: ClaimStore) -> None:
    run = make_run(max_instances=5)
    assert store.claim_many([run, run], "w1", NOW, LEASE) == [
        Claimed(),
        Duplicate(ClaimStatus.RUNNING),
    ]


def test_a_batch_across_several_jobs_at_their_limit(store: ClaimStore) -> None:
    assert store.claim(make_run("full", minute=9), "w0", NOW, LEASE) == Claimed()
    assert store.claim(make_run("half", minute=9, max_instances=2), "w0", NOW, LEASE) == Claimed()
    done = make_run("done", minute=9)
    store.claim(done, "w0", NOW, LEASE)
    store.finish(done.run_id, NOW)
    batch = [
        make_run("full"),
        make_run("half", minute=0, max_instances=2),
        make_run("half", minute=1, max_instances=2),
        make_run("free"),
        make_run("free", minute=1),
        done,
        make_run("done"),
    ]
    assert store.claim_many(batch, "w1", NOW, LEASE) == [
        Full(1),
        Claimed(),
        Full(2),
        Claimed(),
        Full(1),
        Duplicate(ClaimStatus.FINISHED),
        Claimed(),
    ]


def test_a_batch_of_different_jobs_takes_over_a_lapsed_claim_among_new_ones(
    store: ClaimStore,
) -> None:
    lapsed, running, done = make_run("lapsed"), make_run("running"), make_run("done")
    store.claim(lapsed, "dead", NOW - 2 * LEASE, LEASE)
    store.claim(running, "w0", NOW, LEASE)
    store.claim(done, "w0", NOW, LEASE)
    store.finish(done.run_id, NOW)
    store.claim(make_run("busy"), "w0", NOW, LEASE)
    batch = [make_run("new"), lapsed, running, make_run("busy", minute=1), done]
    assert store.claim_many(batch, "w1", NOW, LEASE) == [
        Claimed(),
        Claimed(taken_over=True),
        Duplicate(ClaimStatus.RUNNING),
        Full(1),
        Duplicate(ClaimStatus.FINISHED),
    ]
    assert store.lookup(lapsed.run_id, NOW) == Duplicate(ClaimStatus.RUNNING)


def test_batches_of_the_same_jobs_in_opposite_orders_neither_deadlock_nor_overrun(
    store: ClaimStore,
) -> None:
    jobs = [f"job-{n}" for n in range(6)]
    results: list[object] = []
    barrier = threading.Barrier(4)

    def claim(worker: int) -> None:
        order = jobs if worker % 2 else jobs[::-1]
        runs = [make_run(job, minute=worker, max_instances=2) for job in order]
        barrier.wait()
        results.extend(store.claim_many(runs, f"w{worker}", NOW, LEASE))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert sum(isinstance(r, Claimed) for r in results) == 2 * len(jobs)
    assert sum(isinstance(r, Full) for r in results) == 2 * len(jobs)


@pytest.fixture
def pg_store(pg_schema_url: str) -> Iterator[SqlClaimStore]:
    engine = create_engine(pg_schema_url, pre_ping=False)
    upgrade_schema(engine)
    sql_store = SqlClaimStore(engine)
    yield sql_store
    sql_store.close()


def _cut_connection_at_commit(engine: sa.Engine, admin: sa.Engine) -> list[int]:
    """Kill the claiming connection's server process when it is about to commit.

    That is after every statement of the batch ran: the latest point a cut can happen.
    """
    killed: list[int] = []

    def before_commit(conn: sa.Connection) -> None:
        if not killed:
            pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]  # psycopg's
            with admin.begin() as kill:
                kill.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)

    sa.event.listen(engine, "commit", before_commit)
    return killed


def test_a_judged_batch_interrupted_at_its_commit_stores_nothing_and_the_next_one_works(
    pg_store: SqlClaimStore, pg_schema_url: str
) -> None:
    # A run twice in the batch sends it down the judged path, a transaction of its own
    # (a batch of new runs is one statement: test_worker_claim_locks.py cuts that one).
    batch = [make_run(f"job-{n}") for n in range(5)]
    admin = sa.create_engine(pg_schema_url)
    try:
        killed = _cut_connection_at_commit(pg_store._engine, admin)
        with pytest.raises(StoreUnavailable):
            pg_store.claim_many([*batch, batch[0]], "w1", NOW, LEASE)
    finally:
        admin.dispose()
    assert killed
    assert pg_store.lookup_many([r.run_id for r in batch], NOW) == {}
    assert pg_store.claim_many(batch, "w2", NOW, LEASE) == [Claimed()] * len(batch)


def test_random_batches_get_the_verdicts_of_the_in_memory_store(store: ClaimStore) -> None:
    # Every store judges as the in-memory one: new and repeated runs, jobs at their limit,
    # finished and lapsed claims, in batches of mixed jobs (the SQL stores' one-round-trip
    # path for all-new batches included).
    rng = random.Random(18)
    reference = MemoryClaimStore()
    pool = [
        make_run(f"job-{j}", minute=m, max_instances=1 + j % 3) for j in range(4) for m in range(12)
    ]
    now = NOW
    claimed: list[str] = []
    for step in range(120):
        batch = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        verdicts = reference.claim_many(batch, "w", now, LEASE)
        assert store.claim_many(batch, "w", now, LEASE) == verdicts, (step, batch)
        claimed += [run.run_id for run, v in zip(batch, verdicts, strict=True) if v == Claimed()]
        if claimed and rng.random() < 0.4:
            done = rng.sample(claimed, k=min(len(claimed), rng.randint(1, 3)))
            reference.finish_many(done, now)
            store.finish_many(done, now)
            claimed = [run_id for run_id in claimed if run_id not in done]
        now += rng.choice([timedelta(seconds=1), timedelta(seconds=1), LEASE])  # some lapse


def test_a_batch_of_new_runs_with_room_skips_the_judged_path(
    pg_store: SqlClaimStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged: list[int] = []
    judge_batch = pipelined.claim_batch

    def counting(raw: object, *args: object, **kwargs: object) -> object:
        judged.append(1)
        return judge_batch(raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipelined, "claim_batch", counting)
    fresh = [make_run(f"job-{n}", max_instances=2) for n in range(3)] + [
        make_run("job-0", minute=1, max_instances=2)
    ]
    assert pg_store.claim_many(fresh, "w1", NOW, LEASE) == [Claimed()] * 4
    assert judged == []
    # One run over its job's limit: nothing of the batch is inserted by the one-trip path,
    # and the judged path decides each run.
    over = [make_run("job-5"), make_run("job-0", minute=2, max_instances=2)]
    assert pg_store.claim_many(over, "w1", NOW, LEASE) == [Claimed(), Full(2)]
    assert judged == [1]
    assert pg_store.claim_many([fresh[0]], "w1", NOW, LEASE) == [Duplicate(ClaimStatus.RUNNING)]
    assert judged == [1, 1]
