"""``dueq jobs modify`` and ``dueq jobs run-now``: changing a job in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from dueq.producer.cli.common import scheduler_client, service_options
from dueq.producer.cli.hints import warn_unconsumed
from dueq.producer.cli.jobopts import api_options, job_options, show_job_line, trigger_of
from dueq.producer.jobspec import to_trigger
from dueq.producer.scheduler import Scheduler
from dueq.shared.protocol import make_run_id

__all__ = ["modify_job", "run_now"]


@click.command(name="modify")
@click.argument("job_id")
@click.option("--func", help="Registered job name or module:function.")
@job_options
@click.option("--resume", is_flag=True, help="Also resume the job if it is paused.")
@service_options
def modify_job(job_id: str, resume: bool, **options: Any) -> None:
    """Change the job JOB_ID; a new trigger (--cron/--interval/--at) reschedules it from now.

    A paused job stays paused (its new trigger applies once it is resumed) unless
    --resume is given.

    \b
    Examples:
      dueq jobs modify daily --cron "30 6 * * 1-5"
      dueq jobs modify sync --max-instances 2 --no-coalesce
      dueq jobs modify paused-job --interval 10m --resume
    """
    changes = api_options(options)
    trigger = trigger_of(options)
    if not changes and trigger is None and not resume:
        raise click.UsageError("nothing to change: give at least one option")
    with scheduler_client(options) as scheduler:
        paused = scheduler.get_job(job_id) is not None and _paused(scheduler, job_id)
        if trigger is not None and paused and not resume:
            # reschedule_job resumes (APScheduler does too); a command must not do it behind
            # the user's back, so only the trigger changes and next_run_time stays None.
            zone, now = scheduler.settings.zone, datetime.now(UTC)
            changes["trigger"] = to_trigger(trigger[0], trigger[1], zone, now)
            trigger = None
        job = scheduler.modify_job(job_id, **changes) if changes else None
        if trigger is not None:
            job = scheduler.reschedule_job(job_id, trigger[0], **trigger[1])
        elif resume and paused:
            job = scheduler.resume_job(job_id)
        show_job_line(scheduler, job, "modified", job_id)
        if paused and not resume:
            click.echo(f"job {job_id} is still paused; `dueq jobs resume {job_id}` resumes it")


def _paused(scheduler: Scheduler, job_id: str) -> bool:
    job = scheduler.get_job(job_id)
    return job is not None and job.paused


@click.command(name="run-now")
@click.argument("job_id")
@service_options
def run_now(job_id: str, **options: Any) -> None:
    """Run JOB_ID now: its next run time becomes now and the scheduler is woken.

    Like APScheduler's job.modify(next_run_time=now): the trigger carries on from this
    run, and a paused job is resumed.  Prints the run's id, to follow in ``dueq runs``.

    \b
    Example:
      dueq jobs run-now daily
    """
    with scheduler_client(options) as scheduler:
        job = scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        show_job_line(scheduler, job, "will run now", job_id)
        assert job.next_fire_time is not None
        # Run ids are derived from (job id, scheduled time): this is the id the scheduler
        # will publish the run under (unless the trigger fires again before it does).
        click.echo(f"run {make_run_id(job.id, job.next_fire_time)}; follow it with: "
                   f"dueq runs --job {job.id}")  # fmt: skip
        warn_unconsumed(scheduler, [job])
