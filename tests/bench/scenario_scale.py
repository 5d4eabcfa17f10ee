"""Scenario 4, scale: up to 1M jobs in PostgreSQL.

* bulk add rate: ``Scheduler.add_jobs`` filling the store (one shared interval trigger, first
  runs spread over a day), and ``add_job`` through the API for comparison with APScheduler's
  ``add_job``;
* per-tick cost at 1k, 100k and 1M stored jobs: the product's ``SchedulingLoop.tick()``
  (lease, due query, plan, publish with confirms, commit) timed in this process, with one
  batch (500) of jobs made due before each tick, and with nothing due;
* scheduler RSS: the scheduler service process running against each store size.
References: APScheduler's add_job rate into SQLite and its RSS per job in memory.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dueq.producer import Scheduler
from dueq.producer.backend import open_backend
from dueq.producer.leadership import Leadership
from dueq.producer.loop import SchedulingLoop
from dueq.producer.publisher import BrokerRunPublisher
from dueq.producer.settings import SchedulerSettings
from dueq.producer.wakeup import WakeupSender
from dueq.shared.broker import BrokerConnection
from dueq.shared.tables import jobs
from tests.bench import references
from tests.bench.dueq_cluster import DueqCluster
from tests.bench.dueq_store import (
    api_bulk_add,
    bulk_insert,
    interval_items,
    interval_jobs,
    open_store,
    utc,
)
from tests.bench.jobs import FUNC
from tests.bench.model import Better, Context, Row, ScenarioResult
from tests.bench.services import database, delete_broker_names, unique_name

__all__ = ["run"]

# Jobs made due before each measured tick: one default batch.
DUE = 500
# The targets.
TARGET_RSS_MB = 150.0
TARGET_BULK_PER_S = 20_000.0
# "Flat": the 1M-job tick may cost at most this much more than the 1k-job tick.
FLAT_FACTOR = 1.5
# The scheduler service's batch: how long it may take, and how often the store is asked.
_PUBLISH_TIMEOUT_S = 60.0
_POLL_S = 0.05


def _make_due(engine: Engine) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(
            jobs.update()
            .where(jobs.c.id.startswith("due-"))
            .values(next_run_time=past, next_fire_time=past)
        )


def _still_due(engine: Engine) -> int:
    """How many of the jobs ``_make_due`` made due have not been published (moved on) yet."""
    query = (
        sa.select(sa.func.count())
        .select_from(jobs)
        .where(jobs.c.id.startswith("due-"), jobs.c.next_run_time <= datetime.now(UTC))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _tick_costs(ctx: Context, url: str, engine: Engine, rounds: int) -> dict[str, Any]:
    """Median ms of a tick publishing DUE runs, and of a tick with nothing due."""
    prefix = unique_name("scale")
    settings = SchedulerSettings(database_url=url, broker_url=ctx.services.broker_url,
                                 prefix=prefix)  # fmt: skip
    backend = open_backend(url)
    busy, idle = [], []
    with BrokerConnection(ctx.services.broker_url, name="dqb-scale") as conn:
        topology = settings.topology()
        leadership = Leadership(backend.leader, prefix, timedelta(seconds=60))
        loop = SchedulingLoop(
            store=backend.store,
            leadership=leadership,
            publisher=BrokerRunPublisher(conn, topology),
            settings=settings,
            emit=lambda _event: None,
        )
        # Takes the lease and declares the queue: not part of a tick's cost.  Drained, so
        # no batch is left in flight for the measured ticks to skip.
        if not loop.tick().leader:
            raise RuntimeError("the measuring loop did not get the lease")
        loop.drain()
        for _ in range(rounds):
            _make_due(engine)
            started = time.perf_counter()
            published = loop.tick().published
            loop.drain()  # a full batch stays in flight until the next tick: count its commit
            busy.append(time.perf_counter() - started)
            if published != DUE:
                raise RuntimeError(f"a tick published {published} runs, not {DUE}")
            started = time.perf_counter()
            loop.tick()
            idle.append(time.perf_counter() - started)
        leadership.release(datetime.now(UTC))  # the scheduler process measured next leads
    backend.close()
    delete_broker_names(ctx.services.broker_url, [topology.run_queue("default")],
                        [topology.runs_exchange, topology.dead_letter_exchange])  # fmt: skip
    return {
        "tick_ms": round(statistics.median(busy) * 1000, 1),
        "tick_ms_per_run": round(statistics.median(busy) * 1000 / DUE, 3),
        "idle_tick_ms": round(statistics.median(idle) * 1000, 2),
    }


def _scheduler_rss(ctx: Context, url: str, engine: Engine) -> float:
    """Peak RSS (MB) of the scheduler service publishing one batch against this store."""
    with DueqCluster(ctx.services, database_url=url, tag="scale") as cluster:
        cluster.start_scheduler()
        with cluster.sample() as sampler:
            _make_due(engine)
            sender = WakeupSender(ctx.services.broker_url, cluster.topology, name="dqb-scale")
            sender.send()  # as an API call would; else it sleeps up to max_sleep_seconds
            sender.close()
            deadline = time.monotonic() + _PUBLISH_TIMEOUT_S
            while _still_due(engine):
                if time.monotonic() > deadline:
                    raise RuntimeError("the scheduler did not publish the due batch")
                time.sleep(_POLL_S)
        cluster.stop_scheduler()
    return float(sampler.result()["scheduler"]["peak_rss_mb"])


def _api_add_rate(ctx: Context, store: str, count: int) -> float:
    """``Scheduler.add_job`` calls per second from a client (not started) scheduler."""
    with database(store, ctx.services, "addjob") as url:
        client = Scheduler(database_url=url, broker_url=ctx.services.broker_url,
                           prefix=unique_name("addjob"))  # fmt: skip
        client.open()
        started = time.perf_counter()
        for i in range(count):
            client.add_job(FUNC, "interval", hours=1, id=f"api-{i}")
        elapsed = time.perf_counter() - started
        client.shutdown()
    return count / elapsed


def dueq_scale(ctx: Context) -> dict[str, Any]:
    """Grow one PostgreSQL store through the sizes, measuring at each."""
    sizes = ctx.size([1_000, 100_000, 1_000_000], [1_000, 20_000])
    rounds = ctx.size(10, 3)
    result: dict[str, Any] = {"sizes": {}}
    with database("postgresql", ctx.services, "scale") as url:
        engine = open_store(url)
        soon = utc(time.time() - 3600)
        bulk_insert(engine, interval_jobs("due-", DUE, first=soon, every=timedelta(days=1),
                                          spread=timedelta(seconds=1)))  # fmt: skip
        stored, added, add_seconds = DUE, 0, 0.0
        for size in sizes:
            later = utc(time.time() + 3600)
            ctx.log(f"dueq: scale, filling to {size} jobs")
            items = interval_items(
                f"bg{stored}-",
                size - stored,
                first=later,
                every=timedelta(days=1),
                spread=timedelta(days=1),
            )
            n, seconds = api_bulk_add(url, ctx.services.broker_url, unique_name("bulk"),
                                      items)  # fmt: skip
            stored, added, add_seconds = stored + n, added + n, add_seconds + seconds
            ctx.log(f"dueq: scale, measuring at {stored} jobs")
            costs = _tick_costs(ctx, url, engine, rounds)
            costs["scheduler_peak_rss_mb"] = _scheduler_rss(ctx, url, engine)
            result["sizes"][str(stored)] = costs
        engine.dispose()
    result["bulk_add_per_s"] = round(added / add_seconds, 1)
    result["api_add_job_per_s"] = {s: round(_api_add_rate(ctx, s, ctx.size(500, 100)), 1)
                                   for s in ("sqlite", "postgresql")}  # fmt: skip
    return result


def _rows(raw: dict[str, Any], ctx: Context) -> list[Row]:
    sizes = raw["sizes"]
    smallest, largest = sizes[min(sizes, key=int)], sizes[max(sizes, key=int)]
    top = f"{int(max(sizes, key=int)):,}"
    rows = [
        Row(scenario="scale", metric=f"tick, {DUE} due, {int(n):,} stored", unit="ms",
            better=Better.LOWER, dueq=v["tick_ms"], note=f"idle tick {v['idle_tick_ms']:.1f} ms")
        for n, v in sizes.items()
    ]  # fmt: skip
    flat = largest["tick_ms"] <= FLAT_FACTOR * smallest["tick_ms"]
    rows += [
        Row(scenario="scale", metric=f"tick cost {top} / smallest", unit="x", better=Better.LOWER,
            dueq=largest["tick_ms"] / smallest["tick_ms"], target=f"flat (<= {FLAT_FACTOR}x)",
            ok=flat),
        Row(scenario="scale", metric=f"scheduler RSS, {top} stored", unit="MB",
            better=Better.LOWER, dueq=largest["scheduler_peak_rss_mb"],
            target=f"<= {TARGET_RSS_MB:.0f} MB",
            ok=largest["scheduler_peak_rss_mb"] <= TARGET_RSS_MB),
    ]  # fmt: skip
    bulk = raw["bulk_add_per_s"]
    bulk_row = Row(scenario="scale", metric="bulk add (PostgreSQL)", unit="jobs/s",
                   better=Better.HIGHER, dueq=bulk, target=f">= {TARGET_BULK_PER_S:,.0f}/s",
                   ok=bulk >= TARGET_BULK_PER_S)  # fmt: skip
    api = raw["api_add_job_per_s"]
    api_row = Row(scenario="scale", metric="add_job API (SQLite)", unit="jobs/s",
                  better=Better.HIGHER, dueq=api["sqlite"],
                  note=f"PostgreSQL {api['postgresql']:.0f}/s")  # fmt: skip
    if ctx.with_references:
        aps_add, aps_rss = references.aps_addjob(ctx), references.aps_rss(ctx)
        raw["references"] = {"aps_addjob": aps_add, "aps_rss": aps_rss}
        bulk_row.reference = api_row.reference = "APScheduler add_job (SQLite)"
        bulk_row.ref_value = api_row.ref_value = aps_add["add_job_per_s"]
        per_job = aps_rss["bytes_per_job"]
        rows.append(Row(scenario="scale", metric=f"scheduler RSS, {top} stored", unit="MB",
                        better=Better.LOWER, dueq=largest["scheduler_peak_rss_mb"],
                        reference=f"APScheduler memory store ({per_job} B/job)",
                        ref_value=per_job * int(max(sizes, key=int)) / 2**20))  # fmt: skip
    return [*rows, bulk_row, api_row]


def run(ctx: Context) -> ScenarioResult:
    """dueq at growing sizes, then the references."""
    raw = dueq_scale(ctx)
    return ScenarioResult(name="scale", rows=_rows(raw, ctx), raw=raw)
