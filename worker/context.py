"""``current_run()``: what a job can learn about the run it is executing.

The worker sets the context around each call, in whichever executor runs it: the slot
thread (thread executor), the coroutine's own task (asyncio executor), or the child
process (process executor, which receives it as plain data).  A job that knows its run id
and scheduled time can make its side effects idempotent, and one that knows its attempt
number and whether it was taken over can resume instead of starting again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dueq.shared.errors import DueqError
from dueq.shared.protocol import RunRequest

__all__ = ["NotInRun", "RunContext", "current_run", "running"]


class NotInRun(DueqError, LookupError):
    """``current_run()`` was called outside a job the worker is running."""


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """The run a job is executing: ids, times, attempt, and how it got here."""

    job_id: str
    run_id: str
    scheduled_at: datetime
    attempt: int
    worker_id: str
    #: The broker (or a reaper) had delivered this run before: an earlier try may have
    #: done part of the work.
    redelivered: bool
    #: Another worker had claimed this run and died while running it.
    taken_over: bool
    #: Seconds the job may run (None: no limit).
    timeout: float | None = None

    @classmethod
    def of(
        cls, run: RunRequest, *, worker_id: str, redelivered: bool, taken_over: bool
    ) -> RunContext:
        """The context of ``run`` as delivered to ``worker_id``."""
        return cls(
            job_id=run.job_id,
            run_id=run.run_id,
            scheduled_at=run.scheduled_at,
            attempt=run.attempt,
            worker_id=worker_id,
            redelivered=redelivered,
            taken_over=taken_over,
            timeout=run.timeout,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values, to hand the context to a child process."""
        return dataclasses.asdict(self)


# The one context variable: each thread, task and child process sees its own value.
_CURRENT: ContextVar[RunContext | None] = ContextVar("dueq_current_run", default=None)


def current_run() -> RunContext:
    """The run the calling job is executing; raises ``NotInRun`` outside a job."""
    context = _CURRENT.get()
    if context is None:
        raise NotInRun("current_run() is only available inside a job run by a dueq worker")
    return context


@contextmanager
def running(context: RunContext) -> Iterator[RunContext]:
    """Make ``context`` the current run for the code inside the ``with`` block."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
