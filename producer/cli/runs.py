"""``dueq runs``: run history as workers reported it, failures with their tracebacks."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, tzinfo
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dueq.producer.cli.common import json_option, service_options
from dueq.producer.cli.hints import warn_unconsumed
from dueq.producer.cli.output import console, format_duration, format_time, print_json, short
from dueq.producer.cli.reader import StoreReader, store_reader
from dueq.producer.cli.specs import ISO_DATETIME
from dueq.producer.history.base import RunRecord, RunStatus

__all__ = ["runs_command"]

# Colour of each status in the table (a person scans for red).
_STYLE = {
    RunStatus.SUBMITTED: "dim",
    RunStatus.STARTED: "cyan",
    RunStatus.EXECUTED: "green",
    RunStatus.ERROR: "bold red",
    RunStatus.MISSED: "yellow",
    RunStatus.MAX_INSTANCES: "yellow",
    RunStatus.REJECTED: "bold red",
    RunStatus.LOST: "magenta",
}


@click.command(name="runs")
@click.option("--job", "job_id", help="Only the runs of this job id.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs with this status; repeat for several.",
)
@click.option(
    "--since",
    type=ISO_DATETIME,
    help="Only runs scheduled at or after this time (2026-12-01T09:00; no offset: in --timezone).",
)
@click.option("--until", type=ISO_DATETIME, help="Only runs scheduled at or before this time.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--show-traceback", is_flag=True, help="Print the traceback of each failed run.")
@json_option
@service_options
def runs_command(
    job_id: str | None,
    statuses: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    show_traceback: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Show run history, newest first: what each run did, where and how long it took.

    Statuses: submitted (published, not yet reported), started, executed, error, missed
    (later than its misfire grace time), max_instances (skipped: too many running),
    rejected (the worker would not run it), lost (its worker died mid-run and another
    worker ran it again: that execution is the next row, "run" column #2, #3, ...).

    \b
    Examples:
      dueq runs --job daily --limit 20
      dueq runs --status error --show-traceback
      dueq runs --since 2026-12-01T00:00 --until 2026-12-02T00:00
    """
    chosen = [RunStatus(s) for s in statuses] or None
    with store_reader(options) as reader:
        zone = reader.settings.zone
        records = reader.history.get_runs(
            job_id,
            limit,
            statuses=chosen,
            since=_aware(since, zone),
            until=_aware(until, zone),
        )
        if as_json:
            print_json([asdict(record) for record in records])
            return
        out = console()
        out.print(runs_table(records, zone))
        if show_traceback:
            _print_tracebacks(out, records)
        _warn_waiting(reader, records)


def _warn_waiting(reader: StoreReader, records: list[RunRecord]) -> None:
    """Runs still submitted: say so if their job's queue has no live worker."""
    waiting = {r.job_id for r in records if r.status == RunStatus.SUBMITTED}
    jobs = [job for job in map(reader.store.get_job, sorted(waiting)) if job is not None]
    warn_unconsumed(reader, jobs)


def _aware(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """A naive time from the command line is in the scheduler's zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone)


def runs_table(records: list[RunRecord], zone: tzinfo) -> Table:
    """One row per execution of a run (most runs have one; ``#2`` is a second execution)."""
    table = Table(title=f"{len(records)} run(s)", title_justify="left")
    headers = ("scheduled", "job", "try", "run", "status", "worker", "took", "result", "run id")
    for header in headers:
        table.add_column(header, overflow="fold")
    for record in records:
        table.add_row(
            format_time(record.scheduled_at, zone),
            record.job_id,
            str(record.attempt),
            f"#{record.execution}",
            Text(record.status.value, style=_STYLE[record.status]),
            record.worker_id or "-",
            format_duration(record.duration_s),
            _result(record),
            record.run_id,
        )
    return table


def _result(record: RunRecord) -> str:
    if record.exception_type:
        return short(f"{record.exception_type}: {record.exception_message or ''}")
    if record.exception_message:  # a rejection's reason, or why a run was missed
        prefix = "rejected: " if record.status is RunStatus.REJECTED else ""
        return short(prefix + record.exception_message)
    if record.status is RunStatus.EXECUTED:
        return short(repr(record.retval))
    return ""


def _print_tracebacks(out: Console, records: list[RunRecord]) -> None:
    for record in records:
        if record.traceback:
            out.rule(f"{record.job_id} run {record.run_id}", align="left")
            out.print(Text(record.traceback.rstrip()))
