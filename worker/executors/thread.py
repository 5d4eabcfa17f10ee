"""Calls jobs in the worker's slot threads: the default, for I/O-bound sync jobs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.executors.base import Executor
from dueq.worker.runner import Outcome, invoke

__all__ = ["ASYNC_REFUSAL", "ThreadExecutor"]

ASYNC_REFUSAL = "it is an async def function; run it on a worker with --executor asyncio"


class ThreadExecutor(Executor):
    """Calls the function directly in the slot thread that handles the run."""

    kind = "thread"

    def refusal(self, func: Callable[..., Any]) -> str | None:
        return ASYNC_REFUSAL if inspect.iscoroutinefunction(func) else None

    def execute(self, run: RunRequest, func: Callable[..., Any]) -> Outcome:
        return invoke(func, run.args, run.kwargs)
