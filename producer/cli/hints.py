"""Warnings a command adds when what it did will not have the effect the user expects.

They go to stderr, one line each, and never change the exit code: the command did what
it was asked.  A queue that no live worker consumes is the common one (runs stay
``submitted`` for ever, silently); a one-off time already in the past is the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import click

from dueq.producer.cli.workers import worker_state

if TYPE_CHECKING:
    from dueq.producer.history.base import RunHistory
    from dueq.producer.job import Job

__all__ = ["HasHistory", "warn_if_past", "warn_unconsumed"]

# The workers' default heartbeat interval (DUEQ_HEARTBEAT_INTERVAL); `dueq workers` takes
# another with --heartbeat-interval.
_HEARTBEAT = timedelta(seconds=10)


class HasHistory(Protocol):
    """Anything that reads run history: a ``Scheduler`` client or a ``StoreReader``."""

    @property
    def history(self) -> RunHistory: ...


def warn_unconsumed(source: HasHistory, jobs: Iterable[Job]) -> None:
    """Warn about each queue of ``jobs`` that no live worker reported consuming."""
    queues: dict[str, list[str]] = {}
    for job in jobs:
        queues.setdefault(job.queue, []).append(job.id)
    if not queues:
        return
    now = datetime.now(UTC)
    consumed = {
        queue
        for record in source.history.get_workers()
        if worker_state(record, now, _HEARTBEAT) == "live"
        for queue in record.queues
    }
    for queue, job_ids in sorted(queues.items()):
        if queue not in consumed:
            shown = ", ".join(job_ids[:5]) + (" ..." if len(job_ids) > 5 else "")
            click.echo(
                f"warning: no live worker consumes queue {queue!r} (job {shown}): its runs "
                f"wait there, submitted, until one does (`dueq worker --queue {queue}`; "
                "`dueq workers` lists them, when a scheduler is running)",
                err=True,
            )


def warn_if_past(job: Job, at: datetime | None) -> None:
    """Warn when a one-off ``--at`` time has already passed."""
    if at is None or at > datetime.now(UTC):
        return
    grace = job.misfire_grace_time
    fate = (
        "it runs once as soon as a scheduler picks it up"
        if grace is None
        else f"it is reported missed unless a worker starts it within {grace:g}s of that time"
    )
    click.echo(f"warning: --at {at.isoformat()} is in the past: {fate}", err=True)
