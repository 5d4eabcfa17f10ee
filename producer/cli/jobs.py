"""``dueq jobs``: list, show, add, modify, pause, resume, remove, run now and backfill.

Each subcommand's module is imported only when it runs (a ``LazyGroup``): ``jobs list``
reads the job store and never loads the ``Scheduler`` that the changing verbs write
through, nor backfill's planner.  The summaries below are each command's first help line
(a unit test holds them equal).
"""

from __future__ import annotations

import click

from dueq.shared.lazygroup import LazyCommand, LazyGroup

__all__ = ["JOB_COMMANDS", "jobs_group"]

_READ = "dueq.producer.cli.jobread"
_CHANGE = "dueq.producer.cli.jobchange"
_EDIT = "dueq.producer.cli.jobedit"

JOB_COMMANDS: dict[str, LazyCommand] = {
    "list": LazyCommand(
        f"{_READ}:list_jobs", "List every job, soonest next run first, paused jobs last."
    ),
    "show": LazyCommand(f"{_READ}:show_job", "Show every attribute of the job JOB_ID."),
    "add": LazyCommand(
        f"{_CHANGE}:add_job", "Add a job with one trigger: --cron, --interval or --at."
    ),
    "pause": LazyCommand(f"{_CHANGE}:pause_job", "Stop the runs of JOB_ID until it is resumed."),
    "resume": LazyCommand(
        f"{_CHANGE}:resume_job",
        "Resume JOB_ID from now (a job whose trigger has ended is removed).",
    ),
    "remove": LazyCommand(f"{_CHANGE}:remove_job", "Delete JOB_ID (its run history stays)."),
    "modify": LazyCommand(
        f"{_EDIT}:modify_job",
        "Change the job JOB_ID; a new trigger (--cron/--interval/--at) reschedules it from now.",
    ),
    "run-now": LazyCommand(
        f"{_EDIT}:run_now",
        "Run JOB_ID now: its next run time becomes now and the scheduler is woken.",
    ),
    "backfill": LazyCommand(
        "dueq.producer.cli.backfill:backfill_command",
        "Run JOB_ID once for every run-time its trigger has from --from to --to.",
    ),
}


@click.group(name="jobs", cls=LazyGroup, lazy=JOB_COMMANDS)
def jobs_group() -> None:
    """List and change scheduled jobs in the job store.

    \b
    Examples:
      dueq jobs add --func reports:daily --id daily --cron "0 6 * * *"
      dueq jobs list
      dueq jobs run-now daily
    """
