"""Scenario 7, history: recording and listing with 10 million rows of run history, and retention.

PostgreSQL only (the production store).  On an empty ``dueq_runs`` and again after
filling it with N rows spread over eight days (``generate_series``, seconds for
millions), it measures the events consumer's recording rate (``SqlRunHistory.record_many``
with batches of ``events_prefetch`` events, as the consumer writes them) and the latency of
``dueq runs --limit 50`` (its query, ``get_runs(limit=50)``, median of repeated calls).
Then retention (``HistoryRetention.sweep``, 7 days) deletes the oldest day of rows while
recording goes on in another thread, whose rate is compared with the rate without a sweep.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dueq.producer.history import SqlRunHistory
from dueq.producer.retention import HistoryRetention
from dueq.shared.protocol import JobExecuted, JobStarted, make_run_id
from dueq.shared.tables import jobs, runs
from tests.bench.dueq_store import open_store
from tests.bench.model import Better, Context, Row, ScenarioResult
from tests.bench.services import database

__all__ = ["run"]

# The targets: recording and listing within 1.5x of an empty history.
TARGET_SLOWDOWN = 1.5
# Events per record_many call: about what the events consumer's 100 ms batches hold at a
# steady 1,000 events/s (a backlog is recorded in batches of up to its prefetch, 500).
_EVENTS_PER_BATCH = 100
# Calls of get_runs(limit=50) per measurement (the median is kept).
_LIST_CALLS = 30
# Days the filled history spans: one more than the retention, so a day's rows expire.
_SPAN_DAYS = 8
_RETENTION = timedelta(days=7)

_FILL = sa.text(
    f"INSERT INTO {runs.name} (run_id, job_id, scheduled_at, status, published_at, "
    "worker_id, started_at, finished_at, duration_s, lateness_s, redelivered, updated_at) "
    "SELECT md5(i::text), 'job-' || (i % 1000), t, 'executed', t, 'w1', t, t, 0.001, 0.001, "
    "false, t FROM (SELECT i, CAST(:start AS timestamp) + (i * CAST(:step AS interval)) AS t "
    "FROM generate_series(1, :rows) AS i) AS s"
)


# Jobs the recorded events belong to: the history records runs of existing jobs only.
_RECORDING_JOBS = 500


def _add_recording_jobs(engine: sa.Engine) -> None:
    """The jobs ``_events`` reports on, as rows of the job store (never due)."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {"id": f"rec-{n}", "name": f"rec-{n}", "func": "bench:noop", "args": [], "kwargs": {},
         "trigger": {"type": "date", "run_date": now.isoformat()}, "queue": "default",
         "misfire_grace_time": None, "coalesce": True, "max_instances": 1,
         "next_run_time": None, "next_fire_time": None, "created_at": now, "updated_at": now}
        for n in range(_RECORDING_JOBS)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(jobs.insert(), rows)


def _events(count: int, now: datetime) -> list[list[Any]]:
    """``count`` runs' started+executed events, in batches as the consumer records them."""
    events: list[Any] = []
    for n in range(count):
        at = now + timedelta(microseconds=n)
        job_id = f"rec-{n % _RECORDING_JOBS}"
        common: dict[str, Any] = {
            "run_id": make_run_id(job_id, at), "job_id": job_id, "scheduled_at": at,
            "worker_id": "w1", "hostname": "h", "pid": 1, "emitted_at": at,
        }  # fmt: skip
        events.append(JobStarted(**common, started_at=at, lateness_s=0.0))
        events.append(JobExecuted(**common, started_at=at, finished_at=at, duration_s=0.0,
                                  lateness_s=0.0, retval=None))  # fmt: skip
    return [events[i : i + _EVENTS_PER_BATCH] for i in range(0, len(events), _EVENTS_PER_BATCH)]


def _recording_rate(history: SqlRunHistory, runs_count: int) -> float:
    """Events recorded per second."""
    now = datetime.now(UTC)
    batches = _events(runs_count, now)
    begin = time.perf_counter()
    for batch in batches:
        history.record_many(batch, now)
    return sum(len(b) for b in batches) / (time.perf_counter() - begin)


def _list_latency_ms(history: SqlRunHistory) -> float:
    samples = []
    for _ in range(_LIST_CALLS):
        begin = time.perf_counter()
        history.get_runs(limit=50)
        samples.append((time.perf_counter() - begin) * 1000)
    return statistics.median(samples)


def _fill(engine: sa.Engine, rows: int) -> float:
    """Insert ``rows`` runs spread over the last ``_SPAN_DAYS`` days; seconds taken."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=_SPAN_DAYS)
    step = timedelta(days=_SPAN_DAYS) / rows
    begin = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(_FILL, {"start": start, "step": step, "rows": rows})
        conn.execute(sa.text(f"ANALYZE {runs.name}"))
    return time.perf_counter() - begin


def _sweep_while_recording(history: SqlRunHistory, recording_runs: int) -> tuple[int, float, float]:
    """Run a retention sweep beside recording; rows deleted, sweep seconds, recording rate."""
    retention = HistoryRetention(history, _RETENTION, clock=lambda: datetime.now(UTC))
    result: dict[str, float] = {}

    def sweep() -> None:
        begin = time.perf_counter()
        result["deleted"] = retention.sweep(threading.Event())
        result["seconds"] = time.perf_counter() - begin

    thread = threading.Thread(target=sweep, name="bench-retention")
    thread.start()
    rate = _recording_rate(history, recording_runs)
    thread.join()
    return int(result["deleted"]), result["seconds"], rate


def measure(ctx: Context, rows: int) -> dict[str, Any]:
    """Every number of the scenario for a history of ``rows`` rows."""
    recording_runs = ctx.size(5_000, 1_000)
    with database("postgresql", ctx.services, "history") as url:
        engine = open_store(url)
        history = SqlRunHistory(engine)
        _add_recording_jobs(engine)
        empty = {"record_per_s": _recording_rate(history, recording_runs),
                 "list_ms": _list_latency_ms(history)}  # fmt: skip
        ctx.log(f"dueq: history, filling {rows:,} rows")
        fill_s = _fill(engine, rows)
        full = {"record_per_s": _recording_rate(history, recording_runs),
                "list_ms": _list_latency_ms(history)}  # fmt: skip
        ctx.log("dueq: history, retention sweep while recording")
        deleted, sweep_s, during = _sweep_while_recording(history, recording_runs)
        engine.dispose()
    return {"rows": rows, "fill_s": round(fill_s, 1), "empty": empty, "full": full,
            "retention": {"deleted": deleted, "seconds": round(sweep_s, 2),
                          "record_per_s_during": during}}  # fmt: skip


def run(ctx: Context) -> ScenarioResult:
    """The history scenario at 10M rows (quick: 1M)."""
    result = ScenarioResult(name="history")
    rows = ctx.size(10_000_000, 1_000_000)
    raw = measure(ctx, rows)
    result.raw["dueq-postgresql"] = raw
    empty, full, kept = raw["empty"], raw["full"], raw["retention"]
    name = f"history {rows / 1e6:g}M rows, PostgreSQL"
    record_ratio = empty["record_per_s"] / full["record_per_s"]
    list_ratio = full["list_ms"] / empty["list_ms"]
    during_ratio = full["record_per_s"] / kept["record_per_s_during"]
    result.rows += [
        Row(scenario=name, metric="events recorded", unit="/s", better=Better.HIGHER,
            dueq=full["record_per_s"], reference="empty history",
            ref_value=empty["record_per_s"], target=f"<= {TARGET_SLOWDOWN}x slower",
            ok=record_ratio <= TARGET_SLOWDOWN),
        Row(scenario=name, metric="dueq runs --limit 50 (query, median)", unit="ms",
            better=Better.LOWER, dueq=full["list_ms"], reference="empty history",
            ref_value=empty["list_ms"], target=f"<= {TARGET_SLOWDOWN}x slower",
            ok=list_ratio <= TARGET_SLOWDOWN),
        Row(scenario=name, metric="events recorded during a retention sweep", unit="/s",
            better=Better.HIGHER, dueq=kept["record_per_s_during"],
            reference="no sweep", ref_value=full["record_per_s"],
            target=f"<= {TARGET_SLOWDOWN}x slower", ok=during_ratio <= TARGET_SLOWDOWN,
            note=f"swept {kept['deleted']:,} rows (a day) in {kept['seconds']:.1f} s"),
    ]  # fmt: skip
    return result
