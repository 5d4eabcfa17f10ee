"""Scenario 1, burst: N one-shot jobs due at the same instant.

dueq: 2 worker processes and the scheduler are up and idle; the jobs are written in bulk
with a ``next_run_time`` a little in the future and the scheduler is woken as an API call
would; then we time, from that instant, the last confirmed batch (scheduler hook) and the
last run started (``job_started`` times in the run history the scheduler's events consumer
writes).  Every burst runs twice: with bare workers and with production-mode workers
(``--database-url``: claims in the database, fleet-wide max_instances and dedupe).

The scheduler publishes ahead (look-ahead, docs/dispatch.md): it starts on the burst
``lookahead`` before the instant, so "published after the instant" can be below zero.
"Publish span" is therefore also given: from the moment the scheduler starts on the
burst (instant - look-ahead) to the last confirm, which is what the pipeline costs.
References: the broker's pipelined-confirm ceiling for the same number of messages, and
APScheduler 3.11 with its memory and SQLite stores for the 10k case.
"""

from __future__ import annotations

import time
from typing import Any

from dueq.producer.settings import SchedulerSettings
from dueq.producer.wakeup import WakeupSender
from tests.bench import references
from tests.bench.analysis import confirmed_by, summarize_runs
from tests.bench.dueq_cluster import DueqCluster
from tests.bench.dueq_store import (
    bulk_insert,
    burst_jobs,
    delete_jobs,
    open_store,
    read_runs,
    utc,
)
from tests.bench.model import Better, Context, Row, ScenarioResult
from tests.bench.services import database

__all__ = ["run"]

# Jobs inserted to estimate the bulk insert rate before choosing the burst instant.
_CALIBRATION_JOBS = 2000
# Seconds between the end of the bulk insert (estimated) and the burst instant.
_MARGIN_S = 2.0
# The targets for N = 10k.
TARGET_PUBLISHED_S = 1.0
TARGET_CEILING_FRACTION = 0.7
TARGET_STARTED_S = 2.5
TARGET_VS_APS_SQLITE = 13.0


def _insert_rate(engine: Any) -> float:
    far = utc(time.time() + 86_400)
    count, seconds = bulk_insert(engine, burst_jobs("calibrate-", _CALIBRATION_JOBS, far))
    delete_jobs(engine, "calibrate-")
    return count / seconds


# Workers without and with the database (the production configuration).
WORKER_MODES = {"bare": False, "--database-url": True}
# The look-ahead the scheduler runs with: the product's default.
LOOKAHEAD_S = SchedulerSettings.model_fields["lookahead_seconds"].default


def dueq_burst(ctx: Context, store: str, n: int, *, worker_database: bool) -> dict[str, Any]:
    """Run one dueq burst; returns the raw numbers."""
    ctx.log(f"dueq: burst {n} ({store}, workers {'with' if worker_database else 'without'} db)")
    services = ctx.services
    with (
        database(store, services, "burst") as url,
        DueqCluster(
            services, database_url=url, tag="burst", worker_database=worker_database
        ) as cluster,
    ):
        engine = open_store(url)
        cluster.start_workers(2)
        cluster.start_scheduler()
        instant = time.time() + n / _insert_rate(engine) * 1.5 + _MARGIN_S
        bulk_insert(engine, burst_jobs("b", n, utc(instant)))
        inserted = time.time()
        sender = WakeupSender(services.broker_url, cluster.topology, name="dqb-bench")
        sender.send()  # what every API call does after changing a job
        sender.close()
        with cluster.sample() as sampler:
            waited = cluster.wait_for_outcomes(engine, n, timeout=120 + n / 100, not_before=instant)
        sched = cluster.stop_scheduler()
        runs = summarize_runs(read_runs(engine), expected=n)
        engine.dispose()
    confirmed = confirmed_by(sched["batches"], n)
    return {
        "store": store,
        "jobs": n,
        "worker_database": worker_database,
        "lookahead_s": LOOKAHEAD_S,
        "setup_late": inserted > instant,
        "all_published_s": None if confirmed is None else round(confirmed - instant, 3),
        "publish_span_s": None
        if confirmed is None
        else round(confirmed - (instant - LOOKAHEAD_S), 3),
        "all_started_s": None
        if runs["last_started"] is None
        else round(runs["last_started"] - instant, 3),
        "scheduler_rss_mb": sched["rss_mb"],
        "scheduler_thread_cpu_s": sched.get("thread_cpu_s"),
        "history": waited,
        "processes": sampler.result(),
        **runs,
    }


def _burst_rows(
    n: int, store: str, mode: str, raw: dict[str, Any], ceil: dict[str, Any]
) -> list[Row]:
    name = f"burst {n // 1000}k {store}, workers {mode}"
    published, span, started = raw["all_published_s"], raw["publish_span_s"], raw["all_started_s"]
    is_10k = n == 10_000
    production = raw["worker_database"]
    ceiling_rate = ceil["publish_pipelined_per_s"]
    publish_rate = n / span if span else None
    rows = [
        Row(scenario=name, metric="publish span (start to last confirm)", unit="s",
            better=Better.LOWER, dueq=span, reference="broker ceiling (pipelined)",
            ref_value=n / ceiling_rate,
            target=f"<= {TARGET_PUBLISHED_S} s, >= {TARGET_CEILING_FRACTION}x ceiling"
            if is_10k else "",
            ok=(span is not None and span <= TARGET_PUBLISHED_S
                and publish_rate is not None
                and publish_rate >= TARGET_CEILING_FRACTION * ceiling_rate)
            if is_10k else None,
            note=f"all confirmed {published:+.3f} s after the instant (look-ahead "
            f"{LOOKAHEAD_S} s)" if published is not None else ""),
        Row(scenario=name, metric="all started (2 workers)", unit="s", better=Better.LOWER,
            dueq=started,
            target=f"<= {TARGET_STARTED_S} s" if is_10k and production else "",
            ok=(started is not None and started <= TARGET_STARTED_S)
            if is_10k and production else None),
        Row(scenario=name, metric="publish lag p99", unit="ms", better=Better.LOWER,
            dueq=raw["publish_lag"]["p99_ms"], note=f"p50 {raw['publish_lag']['p50_ms']:.0f}"),
        Row(scenario=name, metric="start lag p99", unit="ms", better=Better.LOWER,
            dueq=raw["start_lag"]["p99_ms"],
            note=f"p50 {raw['start_lag']['p50_ms']:.0f}, max {raw['start_lag']['max_ms']:.0f}"),
        Row(scenario=name, metric="runs lost", unit="", better=Better.LOWER,
            dueq=float(raw["lost"]), target="0", ok=raw["lost"] == 0),
    ]  # fmt: skip
    return rows


def _aps_rows(
    n: int, dueq: dict[str, Any], memory: dict[str, Any], sqlite: dict[str, Any]
) -> list[Row]:
    name = f"burst {n // 1000}k vs APScheduler"
    started = dueq["all_started_s"]
    dueq_rate = n / started if started else None
    return [
        Row(scenario=name, metric="runs/s to all started", unit="/s", better=Better.HIGHER,
            dueq=dueq_rate, reference="APScheduler SQLite store", ref_value=sqlite["runs_per_s"],
            target=f">= {TARGET_VS_APS_SQLITE:.0f}x",
            ok=dueq_rate is not None
            and dueq_rate >= TARGET_VS_APS_SQLITE * sqlite["runs_per_s"]),
        Row(scenario=name, metric="all started", unit="s", better=Better.LOWER,
            dueq=started, reference="APScheduler memory store",
            ref_value=memory["all_started_s"], target="faster",
            ok=started is not None and started < memory["all_started_s"]),
        Row(scenario=name, metric="start lag p99", unit="ms", better=Better.LOWER,
            dueq=dueq["start_lag"]["p99_ms"], reference="APScheduler SQLite store",
            ref_value=sqlite["start_lag"]["p99_ms"]),
        Row(scenario=name, metric="start lag p99", unit="ms", better=Better.LOWER,
            dueq=dueq["start_lag"]["p99_ms"], reference="APScheduler memory store",
            ref_value=memory["start_lag"]["p99_ms"]),
    ]  # fmt: skip


def run(ctx: Context) -> ScenarioResult:
    """Every burst size on both stores, then the references for the 10k case."""
    result = ScenarioResult(name="burst")
    sizes = ctx.burst_sizes or ctx.size([10_000, 100_000], [2_000])
    ceil = references.ceiling(ctx)
    for n in sizes:
        for store in ("postgresql", "sqlite"):
            for mode, worker_database in WORKER_MODES.items():
                raw = dueq_burst(ctx, store, n, worker_database=worker_database)
                key = f"dueq-{store}-{n}" + ("-db" if worker_database else "")
                result.raw[key] = raw
                result.rows += _burst_rows(n, store, mode, raw, ceil)
    n = sizes[0]
    if ctx.with_references:
        memory, sqlite = (
            references.aps_burst(ctx, "memory", n),
            references.aps_burst(ctx, "sqlite", n),
        )
        result.raw |= {"ceiling": ceil, "aps-memory": memory, "aps-sqlite": sqlite}
        result.rows += _aps_rows(n, result.raw[f"dueq-postgresql-{n}"], memory, sqlite)
    return result
