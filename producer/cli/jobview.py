"""How ``dueq jobs`` shows jobs: a table, a detail view, and a JSON form."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rich.table import Table
from rich.text import Text

from dueq.producer.cli.output import format_time
from dueq.producer.job import Job

__all__ = ["job_as_dict", "job_detail", "jobs_table"]


def jobs_table(jobs: list[Job], zone: tzinfo) -> Table:
    """One row per job, soonest next run first (as the store returns them)."""
    table = Table(title=Text(f"{len(jobs)} job(s)", style="table.title"), title_justify="left")
    for header in ("id", "name", "func", "trigger", "next run", "queue"):
        table.add_column(Text(header), overflow="fold")
    for job in jobs:
        table.add_row(
            *(
                Text(cell)  # Text, not markup: "cron[minute='*/5']" must show its brackets
                for cell in (
                    job.id,
                    job.name,
                    job.func,
                    str(job.trigger),
                    "paused" if job.paused else format_time(job.next_run_time, zone),
                    job.queue,
                )
            )
        )
    return table


def job_detail(job: Job, zone: tzinfo) -> Table:
    """Every attribute of one job, one per line."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("attribute", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in _shown(job, zone).items():
        table.add_row(key, Text(value))
    return table


def _shown(job: Job, zone: tzinfo) -> dict[str, str]:
    grace = job.misfire_grace_time
    return {
        "id": job.id,
        "name": job.name,
        "func": job.func,
        "trigger": str(job.trigger),
        "args": repr(list(job.args)),
        "kwargs": repr(dict(job.kwargs)),
        "queue": job.queue,
        "next run": "paused" if job.paused else format_time(job.next_run_time, zone),
        "misfire grace": "no limit" if grace is None else f"{grace:g}s",
        "coalesce": str(job.coalesce).lower(),
        "max instances": str(job.max_instances),
        "overlap": job.overlap.value,
        "retry": "no" if job.retry is None else f"up to {job.retry.max_attempts} attempts",
        "timeout": "none" if job.timeout is None else f"{job.timeout:g}s",
    }


def job_as_dict(job: Job) -> dict[str, Any]:
    """The job as JSON-ready values (times in UTC ISO 8601, the trigger as its JSON form)."""
    return {
        "id": job.id,
        "name": job.name,
        "func": job.func,
        "trigger": job.trigger.to_dict(),
        "trigger_text": str(job.trigger),
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "queue": job.queue,
        "misfire_grace_time": job.misfire_grace_time,
        "coalesce": job.coalesce,
        "max_instances": job.max_instances,
        "overlap": job.overlap.value,
        "retry": None if job.retry is None else job.retry.model_dump(mode="json"),
        "timeout": job.timeout,
        "next_run_time": job.next_run_time,
        "paused": job.paused,
    }
