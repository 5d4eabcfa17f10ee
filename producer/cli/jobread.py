"""``dueq jobs list`` and ``dueq jobs show``: read the job store, change nothing.

They read through a ``StoreReader`` (the job store alone, no ``Scheduler``), so a person
asking what is scheduled waits for the database and little else.
"""

from __future__ import annotations

from typing import Any

import click

from dueq.producer.cli.common import json_option, service_options
from dueq.producer.cli.jobview import job_as_dict, job_detail, jobs_table
from dueq.producer.cli.output import console, print_json
from dueq.producer.cli.reader import store_reader
from dueq.shared.errors import JobLookupError

__all__ = ["list_jobs", "show_job"]


@click.command(name="list")
@json_option
@service_options
def list_jobs(as_json: bool, **options: Any) -> None:
    """List every job, soonest next run first, paused jobs last.

    \b
    Example:
      dueq jobs list --database-url postgresql+psycopg://dueq@db/dueq --timezone Europe/Berlin
    """
    with store_reader(options) as reader:
        jobs = reader.store.get_jobs()
        if as_json:
            print_json([job_as_dict(job) for job in jobs])
        else:
            console().print(jobs_table(jobs, reader.settings.zone))


@click.command(name="show")
@click.argument("job_id")
@json_option
@service_options
def show_job(job_id: str, as_json: bool, **options: Any) -> None:
    """Show every attribute of the job JOB_ID.

    \b
    Example:
      dueq jobs show daily
    """
    with store_reader(options) as reader:
        job = reader.store.get_job(job_id)
        if job is None:
            raise JobLookupError(job_id)
        if as_json:
            print_json(job_as_dict(job))
        else:
            console().print(job_detail(job, reader.settings.zone))
