"""Calls jobs in the worker's slot threads: the default, for I/O-bound sync jobs."""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.context import RunContext, running
from dueq.worker.executors.base import Executor
from dueq.worker.runner import Outcome, invoke, timed_out

__all__ = ["ASYNC_REFUSAL", "THREAD_LEFT_RUNNING", "ThreadExecutor", "call_with_timeout"]

ASYNC_REFUSAL = "it is an async def function; run it on a worker with --executor asyncio"
THREAD_LEFT_RUNNING = "Python cannot stop a thread, so it was left running and its slot was freed"


class ThreadExecutor(Executor):
    """Calls the function directly in the slot thread that handles the run."""

    kind = "thread"

    def refusal(self, func: Callable[..., Any]) -> str | None:
        return ASYNC_REFUSAL if inspect.iscoroutinefunction(func) else None

    def execute(self, run: RunRequest, func: Callable[..., Any], context: RunContext) -> Outcome:
        return call_with_timeout(run, func, context)


def call_with_timeout(run: RunRequest, func: Callable[..., Any], context: RunContext) -> Outcome:
    """Call a sync job in this thread, or, with a timeout, in a helper thread it waits for.

    A helper still running at the timeout is reported timed out and abandoned (a daemon
    thread: it cannot keep the worker from exiting); its eventual result is discarded.
    """
    if run.timeout is None:
        with running(context):
            return invoke(func, run.args, run.kwargs)
    results: list[Outcome] = []

    def call() -> None:
        with running(context):
            results.append(invoke(func, run.args, run.kwargs))

    started_at, start = datetime.now(UTC), time.perf_counter()
    helper = threading.Thread(
        target=contextvars.copy_context().run,
        args=(call,),
        name=f"dueq-job-{run.run_id}",
        daemon=True,
    )
    helper.start()
    helper.join(run.timeout)
    if results:
        return results[0]
    return timed_out(run.timeout, started_at, time.perf_counter() - start, THREAD_LEFT_RUNNING)
