"""What ``dueq jobs add`` and ``dueq jobs modify`` share: options, the trigger, the reply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from dueq.producer.cli.specs import (
    DURATION,
    ISO_DATETIME,
    JSON_ARRAY,
    JSON_OBJECT,
    trigger_from_flags,
)
from dueq.producer.job import Job
from dueq.producer.scheduler import Scheduler

__all__ = ["api_options", "job_options", "show_job_line", "trigger_of"]

F = TypeVar("F", bound=Callable[..., Any])

# add_job/modify_job options a command passes on when given (option name -> API name).
_JOB_OPTIONS = {
    "func": "func",
    "name": "name",
    "queue": "queue",
    "args": "args",
    "kwargs": "kwargs",
    "misfire_grace_time": "misfire_grace_time",
    "max_instances": "max_instances",
    "coalesce": "coalesce",
}


def job_options(func: F) -> F:
    """Options shared by ``add`` and ``modify`` (everything but the id)."""
    decorators = [
        click.option("--name", help="Human-readable name (default: the function's name)."),
        click.option("--queue", help="Queue the runs go to (default: default)."),
        click.option("--args", type=JSON_ARRAY, help='Positional arguments as JSON: [1, "a"].'),
        click.option("--kwargs", type=JSON_OBJECT, help='Keyword arguments as JSON: {"n": 1}.'),
        click.option("--cron", help='Crontab text: "*/5 * * * *", or 6 fields with seconds first.'),
        click.option("--interval", type=DURATION, help="Fixed interval: 30s, 5m, 1h30m, 2d."),
        click.option("--at", type=ISO_DATETIME, help="Run once at 2026-12-01T09:00 "
                     "(no offset: in --timezone)."),
        click.option("--misfire-grace-time", type=DURATION,
                     help="How late a run may still start (30s, 5m); default no limit."),
        click.option("--max-instances", type=click.IntRange(1, 10_000),
                     help="Runs of this job at once across all workers (default 1)."),
        click.option("--coalesce/--no-coalesce", default=None,
                     help="After downtime run once (default), or once per missed time."),
    ]  # fmt: skip
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def api_options(options: dict[str, Any]) -> dict[str, Any]:
    chosen = {
        api: options[opt] for opt, api in _JOB_OPTIONS.items() if options.get(opt) is not None
    }
    grace = chosen.get("misfire_grace_time")
    if isinstance(grace, timedelta):
        chosen["misfire_grace_time"] = grace.total_seconds()
    return chosen


def trigger_of(options: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    return trigger_from_flags(options["cron"], options["interval"], options["at"])


def show_job_line(scheduler: Scheduler, job: Job | None, verb: str, job_id: str) -> None:
    if job is None:
        click.echo(f"job {job_id} {verb}")
    else:
        click.echo(f"job {job.id} {verb}: {job.describe(scheduler.settings.zone)}")
