"""Scenario 2, steady: 1,000 jobs every second for 60 s.

dueq: publish lag (published_at - scheduled_at, both in the RunRequest) and start lag
(job_started's started_at - scheduled_at) p50/p99/max, and runs lost, on both stores.
References: APScheduler's start lag with 200 and 1,000 jobs (memory store) and the rate
Celery beat achieves with 1,000 one-second entries.
"""

from __future__ import annotations

from typing import Any

from tests.bench import references
from tests.bench.dueq_steady import Phase, run_phases
from tests.bench.model import Better, Context, Row, ScenarioResult

__all__ = ["run"]

# The targets.
TARGET_PUBLISH_P99_MS = 10.0
TARGET_START_P99_MS = 30.0


def _rows(name: str, raw: dict[str, Any], jobs: int) -> list[Row]:
    window = raw["steady"]
    pub, start = window["publish_lag"], window["start_lag"]
    return [
        Row(scenario=name, metric="publish lag p99", unit="ms", better=Better.LOWER,
            dueq=pub["p99_ms"], note=f"p50 {pub['p50_ms']:.1f}, max {pub['max_ms']:.0f}",
            target=f"<= {TARGET_PUBLISH_P99_MS:.0f} ms", ok=pub["p99_ms"] <= TARGET_PUBLISH_P99_MS),
        Row(scenario=name, metric="start lag p99", unit="ms", better=Better.LOWER,
            dueq=start["p99_ms"], note=f"p50 {start['p50_ms']:.1f}, max {start['max_ms']:.0f}",
            target=f"<= {TARGET_START_P99_MS:.0f} ms", ok=start["p99_ms"] <= TARGET_START_P99_MS),
        Row(scenario=name, metric="runs lost", unit="", better=Better.LOWER,
            dueq=float(window["lost"]), target="0", ok=window["lost"] == 0,
            note=f"of {window['expected']}"),
    ]  # fmt: skip


def _reference_rows(ctx: Context, jobs: int, duration: int, dueq: dict[str, Any]) -> list[Row]:
    rows = []
    for n in sorted({ctx.size(200, 50), jobs}):
        aps = references.aps_steady(ctx, n, duration)
        rows.append(Row(
            scenario=f"steady {n} jobs/s vs APScheduler", metric="start lag p99", unit="ms",
            better=Better.LOWER, dueq=dueq["steady"]["start_lag"]["p99_ms"] if n == jobs else None,
            reference="APScheduler memory store", ref_value=aps["start_lag"]["p99_ms"],
            note=f"APScheduler lost {aps['lost']}",
        ))  # fmt: skip
    beat = references.celery_beat(ctx)
    achieved = dueq["steady"]["statuses"].get("executed", 0) / duration
    rows.append(Row(
        scenario=f"steady {jobs} jobs/s vs Celery beat", metric="runs/s achieved", unit="/s",
        better=Better.HIGHER, dueq=achieved, reference="Celery beat, 1,000 entries at 1 s",
        ref_value=beat["sent_per_s"], note=f"beat CPU {beat['beat_cpu_percent']:.0f}%",
    ))  # fmt: skip
    return rows


def run(ctx: Context) -> ScenarioResult:
    """Both stores for dueq, then the references."""
    result = ScenarioResult(name="steady")
    jobs, duration = ctx.size(1000, 200), ctx.size(60, 10)
    for store in ("postgresql", "sqlite"):
        ctx.log(f"dueq: steady {jobs} jobs/s for {duration} s ({store})")
        raw = run_phases(ctx, store=store, jobs=jobs, tag="steady",
                         phases=[Phase(name="steady", seconds=duration)])  # fmt: skip
        result.raw[f"dueq-{store}"] = raw
        result.rows += _rows(f"steady {jobs} jobs/s {store}", raw, jobs)
    if ctx.with_references:
        result.rows += _reference_rows(ctx, jobs, duration, result.raw["dueq-postgresql"])
        result.raw["references"] = {
            k: v for k, v in ctx.memo.items() if "steady" in k or "beat" in k
        }
    return result
