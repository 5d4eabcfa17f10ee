"""Scenario 2, steady: J jobs every second (200 and 1,000 jobs/s) for 60 s.

dueq: publish lag (published_at - scheduled_at, both in the RunRequest; below zero when a
run is published ahead, see docs/dispatch.md) and start lag (job_started's started_at -
scheduled_at) p50/p99/max, and runs lost, on both stores, with bare workers and with
production-mode workers (``--database-url``).  References: APScheduler's start lag at the
same rates (memory store) and the rate Celery beat achieves with as many one-second
entries as dueq is offered (like with like: the same offered rate on both sides).
"""

from __future__ import annotations

from typing import Any

from tests.bench import references
from tests.bench.dueq_steady import Phase, run_phases
from tests.bench.model import Better, Context, Row, ScenarioResult

__all__ = ["run"]

# The targets: publish lag for every rate; start lag with production-mode
# workers, by offered rate (jobs/s -> p99 ms).
TARGET_PUBLISH_P99_MS = 10.0
TARGET_START_P99_MS = {200: 5.0, 1000: 30.0}
# Workers without and with the database (the production configuration).
WORKER_MODES = {"bare": False, "--database-url": True}


def _rows(name: str, raw: dict[str, Any], jobs: int) -> list[Row]:
    window = raw["steady"]
    pub, start = window["publish_lag"], window["start_lag"]
    start_target = TARGET_START_P99_MS.get(jobs) if raw["worker_database"] else None
    return [
        Row(scenario=name, metric="publish lag p99", unit="ms", better=Better.LOWER,
            dueq=pub["p99_ms"], note=f"p50 {pub['p50_ms']:.1f}, max {pub['max_ms']:.0f}",
            target=f"<= {TARGET_PUBLISH_P99_MS:.0f} ms", ok=pub["p99_ms"] <= TARGET_PUBLISH_P99_MS),
        Row(scenario=name, metric="start lag p99", unit="ms", better=Better.LOWER,
            dueq=start["p99_ms"], note=f"p50 {start['p50_ms']:.1f}, max {start['max_ms']:.0f}",
            target=f"<= {start_target:.0f} ms" if start_target else "",
            ok=start["p99_ms"] <= start_target if start_target else None),
        Row(scenario=name, metric="runs lost", unit="", better=Better.LOWER,
            dueq=float(window["lost"]), target="0", ok=window["lost"] == 0,
            note=f"of {window['expected']}"),
    ]  # fmt: skip


def _reference_rows(ctx: Context, jobs: int, duration: int, dueq: dict[str, Any]) -> list[Row]:
    """APScheduler and Celery beat at ``jobs`` jobs/s, against production-mode dueq."""
    aps = references.aps_steady(ctx, jobs, duration)
    beat = references.celery_beat(ctx, entries=jobs)
    achieved = dueq["steady"]["statuses"].get("executed", 0) / duration
    return [
        Row(scenario=f"steady {jobs} jobs/s vs APScheduler", metric="start lag p99", unit="ms",
            better=Better.LOWER, dueq=dueq["steady"]["start_lag"]["p99_ms"],
            reference="APScheduler memory store", ref_value=aps["start_lag"]["p99_ms"],
            note=f"APScheduler lost {aps['lost']}"),
        Row(scenario=f"steady {jobs} jobs/s vs Celery beat", metric="runs/s achieved",
            unit="/s", better=Better.HIGHER, dueq=achieved,
            reference=f"Celery beat, {jobs:,} entries at 1 s", ref_value=beat["sent_per_s"],
            note=f"both offered {jobs}/s; beat CPU {beat['beat_cpu_percent']:.0f}%"),
    ]  # fmt: skip


def run(ctx: Context) -> ScenarioResult:
    """Every rate on both stores and both worker modes for dueq, then the references."""
    result = ScenarioResult(name="steady")
    rates, duration = ctx.size([200, 1000], [200]), ctx.size(60, 10)
    for jobs in rates:
        for store in ("postgresql", "sqlite"):
            for mode, worker_database in WORKER_MODES.items():
                ctx.log(f"dueq: steady {jobs} jobs/s for {duration} s ({store}, workers {mode})")
                raw = run_phases(ctx, store=store, jobs=jobs, tag="steady",
                                 phases=[Phase(name="steady", seconds=duration)],
                                 worker_database=worker_database)  # fmt: skip
                key = f"dueq-{store}-{jobs}" + ("-db" if worker_database else "")
                result.raw[key] = raw
                result.rows += _rows(f"steady {jobs} jobs/s {store}, workers {mode}", raw, jobs)
        if ctx.with_references:
            result.rows += _reference_rows(
                ctx, jobs, duration, result.raw[f"dueq-postgresql-{jobs}-db"]
            )
    if ctx.with_references:
        result.raw["references"] = {
            k: v for k, v in ctx.memo.items() if "steady" in k or "beat" in k
        }
    return result
