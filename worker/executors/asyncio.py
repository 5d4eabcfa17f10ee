"""Runs ``async def`` jobs on one event loop in a thread of its own.

Sync functions are still allowed on this executor and run in the slot thread, so one
worker can serve a queue that mixes both kinds.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.executors.base import Executor
from dueq.worker.runner import Outcome, invoke, invoke_async

__all__ = ["AsyncioExecutor"]


class AsyncioExecutor(Executor):
    """One event loop thread; each run's coroutine is scheduled on it from its slot thread."""

    kind = "asyncio"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="dueq-asyncio-executor", daemon=True
        )
        self._thread.start()

    def refusal(self, func: Callable[..., Any]) -> str | None:
        return None

    def execute(self, run: RunRequest, func: Callable[..., Any]) -> Outcome:
        if not inspect.iscoroutinefunction(func):
            return invoke(func, run.args, run.kwargs)
        if self._loop is None:
            raise RuntimeError("AsyncioExecutor.execute() before start()")
        future = asyncio.run_coroutine_threadsafe(
            invoke_async(func, run.args, run.kwargs), self._loop
        )
        return future.result()

    def shutdown(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
