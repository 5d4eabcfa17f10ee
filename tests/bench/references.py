"""The reference measurements, each taken at most once per bench run and shared.

The broker ceiling, APScheduler and Celery are re-measured in every run (the machine is
noisy, so ratios are only meaningful within one run); a scenario asking for a number
another scenario already measured gets the same value.
"""

from __future__ import annotations

from typing import Any

from tests.bench.ceiling import measure_ceiling
from tests.bench.model import Context
from tests.bench.procs import run_json
from tests.bench.ref_celery import beat_rate, worker_rate
from tests.bench.services import unique_name

__all__ = [
    "aps_addjob",
    "aps_burst",
    "aps_rss",
    "aps_steady",
    "ceiling",
    "celery_beat",
    "celery_worker",
]

_APS = ["-m", "tests.bench.ref_apscheduler"]


def ceiling(ctx: Context, queue_type: str = "quorum") -> dict[str, Any]:
    """The broker ceiling on queues of ``queue_type`` (dueq's run queues are quorum)."""

    def measure() -> dict[str, Any]:
        ctx.log(f"reference: broker ceiling ({queue_type} queue)")
        return measure_ceiling(
            ctx.services.broker_url,
            count=ctx.size(20_000, 5_000),
            each_count=ctx.size(2_000, 500),
            queue_type=queue_type,
        )

    return ctx.once(f"ceiling-{queue_type}", measure)


def aps_addjob(ctx: Context) -> dict[str, Any]:
    """APScheduler add_job/s into its SQLite store (also sizes the burst setup margin)."""

    def measure() -> dict[str, Any]:
        ctx.log("reference: APScheduler add_job into SQLite")
        db = ctx.services.workdir / f"{unique_name('aps-add')}.sqlite3"
        try:
            n = ctx.size(1_000, 200)
            return run_json([*_APS, "addjob", "--n", str(n), "--db", str(db)], ctx.services,
                            timeout=600)  # fmt: skip
        finally:
            db.unlink(missing_ok=True)

    return ctx.once("aps-addjob", measure)


def aps_burst(ctx: Context, store: str, n: int) -> dict[str, Any]:
    """APScheduler: ``n`` jobs due at one instant, ``store`` "memory" or "sqlite"."""

    def measure() -> dict[str, Any]:
        ctx.log(f"reference: APScheduler burst {n} ({store} store)")
        add_rate = 20_000.0 if store == "memory" else aps_addjob(ctx)["add_job_per_s"]
        db = ctx.services.workdir / f"{unique_name('aps-burst')}.sqlite3"
        args = ["burst", "--store", store, "--n", str(n), "--add-rate", str(add_rate),
                "--db", str(db), "--timeout", str(60 + n / 50)]  # fmt: skip
        try:
            return run_json(_APS + args, ctx.services, timeout=900 + n / 20)
        finally:
            db.unlink(missing_ok=True)

    return ctx.once(f"aps-burst-{store}-{n}", measure)


def aps_steady(ctx: Context, jobs: int, duration: int) -> dict[str, Any]:
    """APScheduler (memory store): ``jobs`` one-second interval jobs for ``duration`` s."""

    def measure() -> dict[str, Any]:
        ctx.log(f"reference: APScheduler steady {jobs} jobs/s for {duration} s")
        args = ["steady", "--n", str(jobs), "--duration", str(duration)]
        return run_json(_APS + args, ctx.services, timeout=duration + 300)

    return ctx.once(f"aps-steady-{jobs}-{duration}", measure)


def aps_rss(ctx: Context) -> dict[str, Any]:
    """APScheduler: RSS per job in its memory store."""

    def measure() -> dict[str, Any]:
        ctx.log("reference: APScheduler RSS per job")
        n = ctx.size(100_000, 10_000)
        return run_json([*_APS, "rss", "--n", str(n)], ctx.services, timeout=600)

    return ctx.once("aps-rss", measure)


def celery_beat(ctx: Context, entries: int = 1000) -> dict[str, Any]:
    """Celery beat with ``entries`` entries due every second: tasks sent per second."""

    def measure() -> dict[str, Any]:
        ctx.log(f"reference: Celery beat {entries:,} entries at 1/s")
        return beat_rate(
            ctx.services, entries=entries, duration=ctx.size(30.0, 6.0), warmup=ctx.size(5.0, 2.0)
        )

    return ctx.once(f"celery-beat-{entries}", measure)


def celery_worker(
    ctx: Context, *, guaranteed: bool = False, prefetch_multiplier: int = 4
) -> dict[str, Any]:
    """One Celery worker (threads pool): no-op tasks per second.

    ``guaranteed``: acks late and task events on, the guarantees a dueq worker gives;
    ``prefetch_multiplier``: Celery's default 4, or a dueq worker's with a database.
    """

    def measure() -> dict[str, Any]:
        how = "acks late, events on" if guaranteed else "plain"
        ctx.log(f"reference: Celery worker no-op throughput ({how}, x{prefetch_multiplier})")
        return worker_rate(
            ctx.services,
            tasks=ctx.size(20_000, 3_000),
            guaranteed=guaranteed,
            prefetch_multiplier=prefetch_multiplier,
        )

    return ctx.once(f"celery-worker-{guaranteed}-{prefetch_multiplier}", measure)
