"""``dueq jobs``: list, show, add, modify, pause, resume, remove and run jobs now.

Every change is written to the job store and then announced on ``dueq.control``, so the
running scheduler re-plans at once; no scheduler has to be running to change jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from dueq.producer.cli.backfill import backfill_command
from dueq.producer.cli.common import json_option, scheduler_client, service_options
from dueq.producer.cli.jobview import job_as_dict, job_detail, jobs_table
from dueq.producer.cli.output import console, print_json
from dueq.producer.cli.specs import (
    DURATION,
    ISO_DATETIME,
    JSON_ARRAY,
    JSON_OBJECT,
    trigger_from_flags,
)
from dueq.producer.job import Job
from dueq.producer.scheduler import Scheduler
from dueq.shared.errors import JobLookupError

__all__ = ["jobs_group"]

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


@click.group(name="jobs")
def jobs_group() -> None:
    """List and change scheduled jobs in the job store.

    \b
    Examples:
      dueq jobs add --func reports:daily --id daily --cron "0 6 * * *"
      dueq jobs list
      dueq jobs run-now daily
    """


def _job_options(func: F) -> F:
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


def _api_options(options: dict[str, Any]) -> dict[str, Any]:
    chosen = {
        api: options[opt] for opt, api in _JOB_OPTIONS.items() if options.get(opt) is not None
    }
    grace = chosen.get("misfire_grace_time")
    if isinstance(grace, timedelta):
        chosen["misfire_grace_time"] = grace.total_seconds()
    return chosen


def _trigger(options: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    return trigger_from_flags(options["cron"], options["interval"], options["at"])


def _show(scheduler: Scheduler, job: Job | None, verb: str, job_id: str) -> None:
    if job is None:
        click.echo(f"job {job_id} {verb}")
    else:
        click.echo(f"job {job.id} {verb}: {job.describe(scheduler.settings.zone)}")


@jobs_group.command(name="list")
@json_option
@service_options
def list_jobs(as_json: bool, **options: Any) -> None:
    """List every job, soonest next run first, paused jobs last.

    \b
    Example:
      dueq jobs list --database-url postgresql+psycopg://dueq@db/dueq --timezone Europe/Berlin
    """
    with scheduler_client(options) as scheduler:
        jobs = scheduler.get_jobs()
        if as_json:
            print_json([job_as_dict(job) for job in jobs])
        else:
            console().print(jobs_table(jobs, scheduler.settings.zone))


@jobs_group.command(name="show")
@click.argument("job_id")
@json_option
@service_options
def show_job(job_id: str, as_json: bool, **options: Any) -> None:
    """Show every attribute of the job JOB_ID.

    \b
    Example:
      dueq jobs show daily
    """
    with scheduler_client(options) as scheduler:
        job = scheduler.get_job(job_id)
        if job is None:
            raise JobLookupError(job_id)
        if as_json:
            print_json(job_as_dict(job))
        else:
            console().print(job_detail(job, scheduler.settings.zone))


@jobs_group.command(name="add")
@click.option("--func", required=True, help="Registered job name or module:function.")
@click.option("--id", "job_id", help="Job id (default: a random one).")
@_job_options
@click.option("--replace-existing", is_flag=True, help="Overwrite a job with the same id.")
@click.option("--paused", is_flag=True, help="Add the job paused (resume it later).")
@service_options
def add_job(job_id: str | None, replace_existing: bool, paused: bool, **options: Any) -> None:
    """Add a job with one trigger: --cron, --interval or --at.

    \b
    Examples:
      dueq jobs add --func reports:daily --id daily --cron "0 6 * * 1-5" --timezone Europe/Berlin
      dueq jobs add --func billing.sync --id sync --interval 1h30m --args '["eu"]'
      dueq jobs add --func mail:send --at 2026-12-01T09:00 --kwargs '{"to": "ops"}'
    """
    trigger = _trigger(options)
    if trigger is None:
        raise click.UsageError("give a trigger: --cron, --interval or --at")
    name, trigger_args = trigger
    extra: dict[str, Any] = {"next_run_time": None} if paused else {}
    with scheduler_client(options) as scheduler:
        job = scheduler.add_job(
            trigger=name,
            id=job_id,
            replace_existing=replace_existing,
            **_api_options(options),
            **extra,
            **trigger_args,
        )
        _show(scheduler, job, "added", job.id)


@jobs_group.command(name="modify")
@click.argument("job_id")
@click.option("--func", help="Registered job name or module:function.")
@_job_options
@service_options
def modify_job(job_id: str, **options: Any) -> None:
    """Change the job JOB_ID; a new trigger (--cron/--interval/--at) reschedules it from now.

    \b
    Examples:
      dueq jobs modify daily --cron "30 6 * * 1-5"
      dueq jobs modify sync --max-instances 2 --no-coalesce
    """
    changes = _api_options(options)
    trigger = _trigger(options)
    if not changes and trigger is None:
        raise click.UsageError("nothing to change: give at least one option")
    with scheduler_client(options) as scheduler:
        job = scheduler.modify_job(job_id, **changes) if changes else None
        if trigger is not None:
            job = scheduler.reschedule_job(job_id, trigger[0], **trigger[1])
        _show(scheduler, job, "modified", job_id)


@jobs_group.command(name="pause")
@click.argument("job_id")
@service_options
def pause_job(job_id: str, **options: Any) -> None:
    """Stop the runs of JOB_ID until it is resumed.

    \b
    Example:
      dueq jobs pause daily
    """
    with scheduler_client(options) as scheduler:
        _show(scheduler, scheduler.pause_job(job_id), "paused", job_id)


@jobs_group.command(name="resume")
@click.argument("job_id")
@service_options
def resume_job(job_id: str, **options: Any) -> None:
    """Resume JOB_ID from now (a job whose trigger has ended is removed).

    \b
    Example:
      dueq jobs resume daily
    """
    with scheduler_client(options) as scheduler:
        job = scheduler.resume_job(job_id)
        _show(scheduler, job, "resumed" if job else "removed (its trigger has ended)", job_id)


@jobs_group.command(name="remove")
@click.argument("job_id")
@service_options
def remove_job(job_id: str, **options: Any) -> None:
    """Delete JOB_ID (its run history stays).

    \b
    Example:
      dueq jobs remove daily
    """
    with scheduler_client(options) as scheduler:
        scheduler.remove_job(job_id)
        click.echo(f"job {job_id} removed")


@jobs_group.command(name="run-now")
@click.argument("job_id")
@service_options
def run_now(job_id: str, **options: Any) -> None:
    """Run JOB_ID now: its next run time becomes now and the scheduler is woken.

    Like APScheduler's job.modify(next_run_time=now): the trigger carries on from this
    run, and a paused job is resumed.

    \b
    Example:
      dueq jobs run-now daily
    """
    with scheduler_client(options) as scheduler:
        job = scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        _show(scheduler, job, "will run now", job_id)


jobs_group.add_command(backfill_command)
