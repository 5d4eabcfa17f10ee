"""``dueq jobs add``, ``pause``, ``resume`` and ``remove``: changes to the job store.

Every change is written through a scheduler client and then announced on ``dueq.control``,
so the running scheduler re-plans at once; no scheduler has to be running to change jobs.
"""

from __future__ import annotations

from typing import Any

import click

from dueq.producer.cli.common import scheduler_client, service_options
from dueq.producer.cli.hints import warn_if_past, warn_unconsumed
from dueq.producer.cli.jobopts import api_options, job_options, show_job_line, trigger_of

__all__ = ["add_job", "pause_job", "remove_job", "resume_job"]


@click.command(name="add")
@click.option("--func", required=True, help="Registered job name or module:function.")
@click.option("--id", "job_id", help="Job id (default: a random one).")
@job_options
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
    trigger = trigger_of(options)
    if trigger is None:
        raise click.UsageError("give a trigger: --cron, --interval or --at")
    name, trigger_args = trigger
    extra: dict[str, Any] = {"next_run_time": None} if paused else {}
    with scheduler_client(options) as scheduler:
        job = scheduler.add_job(
            trigger=name,
            id=job_id,
            replace_existing=replace_existing,
            **api_options(options),
            **extra,
            **trigger_args,
        )
        show_job_line(scheduler, job, "added", job.id)
        if options["at"] is not None:
            warn_if_past(job, job.next_fire_time)
        if not paused:
            warn_unconsumed(scheduler, [job])


@click.command(name="pause")
@click.argument("job_id")
@service_options
def pause_job(job_id: str, **options: Any) -> None:
    """Stop the runs of JOB_ID until it is resumed.

    \b
    Example:
      dueq jobs pause daily
    """
    with scheduler_client(options) as scheduler:
        show_job_line(scheduler, scheduler.pause_job(job_id), "paused", job_id)


@click.command(name="resume")
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
        show_job_line(
            scheduler, job, "resumed" if job else "removed (its trigger has ended)", job_id
        )


@click.command(name="remove")
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
