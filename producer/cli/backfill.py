"""``dueq jobs backfill``: run a job for every run-time of a past range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from dueq.producer.backfill import DEFAULT_MAX_RUNS, BackfillProgress
from dueq.producer.cli.common import scheduler_client, service_options
from dueq.producer.cli.specs import ISO_DATETIME
from dueq.shared.protocol import Overlap

__all__ = ["backfill_command"]


@click.command(name="backfill")
@click.argument("job_id")
@click.option("--from", "start", type=ISO_DATETIME, required=True, help="First time (ISO 8601).")
@click.option("--to", "end", type=ISO_DATETIME, required=True, help="Last time (ISO 8601).")
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_RUNS,
    show_default=True,
    help="Refuse a range with more run-times than this.",
)
@click.option(
    "--overlap",
    type=click.Choice([o.value for o in Overlap]),
    default=Overlap.BUFFER_ALL.value,
    show_default=True,
    help="What a backfilled run does while the job is busy.",
)
@service_options
def backfill_command(
    job_id: str, start: datetime, end: datetime, max_runs: int, overlap: str, **options: Any
) -> None:
    """Run JOB_ID once for every run-time its trigger has from --from to --to.

    Each run keeps the run id the scheduler would have given it, so running the same
    backfill again (or over times the job already ran) runs nothing twice.  The leader
    publishes the runs; a progress line is printed as they are scheduled.

    \b
    Example:
      dueq jobs backfill daily --from 2026-11-01 --to 2026-11-30T23:59:59
    """

    def report(step: BackfillProgress) -> None:
        click.echo(
            f"backfill {job_id}: {step.done}/{step.total} run-times, "
            f"{step.scheduled} scheduled, {step.skipped} already known"
        )

    with scheduler_client(options) as scheduler:
        done = scheduler.backfill(
            job_id, start, end, max_runs=max_runs, overlap=overlap, progress=report
        )
    if done.total == 0:
        click.echo(f"backfill {job_id}: no run-times from {start} to {end}")
