"""Runs ``async def`` jobs on one event loop in a thread of its own.

Sync functions are still allowed on this executor and run in the slot thread, so one
worker can serve a queue that mixes both kinds.  A coroutine that outlives its timeout is
cancelled (``asyncio.timeout``), which is the one kind of job Python can stop cleanly.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import CancelledError, Future
from datetime import UTC, datetime
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.context import RunContext, running
from dueq.worker.executors.base import CANCELLED_FOR_NEWER, Executor
from dueq.worker.executors.thread import call_with_timeout
from dueq.worker.runner import Outcome, invoke_async, stopped, timed_out

__all__ = ["CANCELLED_FOR_NEWER", "AsyncioExecutor"]


class AsyncioExecutor(Executor):
    """One event loop thread; each run's coroutine is scheduled on it from its slot thread."""

    kind = "asyncio"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: dict[str, set[Future[Outcome]]] = {}
        self._by_run: dict[str, Future[Outcome]] = {}

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="dueq-asyncio-executor", daemon=True
        )
        self._thread.start()

    def refusal(self, func: Callable[..., Any]) -> str | None:
        return None

    def execute(self, run: RunRequest, func: Callable[..., Any], context: RunContext) -> Outcome:
        if not inspect.iscoroutinefunction(func):
            return call_with_timeout(run, func, context)
        if self._loop is None:
            raise RuntimeError("AsyncioExecutor.execute() before start()")
        started_at, start = datetime.now(UTC), time.perf_counter()
        future = asyncio.run_coroutine_threadsafe(_call(run, func, context), self._loop)
        with self._lock:
            self._running.setdefault(run.job_id, set()).add(future)
            self._by_run[run.run_id] = future
        try:
            return future.result()
        except CancelledError:
            return stopped(started_at, time.perf_counter() - start, CANCELLED_FOR_NEWER)
        finally:
            with self._lock:
                futures = self._running.get(run.job_id, set())
                futures.discard(future)
                if not futures:
                    self._running.pop(run.job_id, None)
                if self._by_run.get(run.run_id) is future:
                    del self._by_run[run.run_id]

    def cancel(self, job_id: str) -> int:
        with self._lock:
            futures = list(self._running.get(job_id, ()))
        return sum(future.cancel() for future in futures)

    def cancel_run(self, run_id: str) -> bool:
        with self._lock:
            future = self._by_run.get(run_id)
        return future is not None and future.cancel()

    def shutdown(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None


async def _call(
    run: RunRequest, func: Callable[..., Awaitable[Any]], context: RunContext
) -> Outcome:
    """Await the job in its own task (so the context is the task's alone), within its timeout."""
    started_at, start = datetime.now(UTC), time.perf_counter()
    with running(context):
        try:
            async with asyncio.timeout(run.timeout):
                return await invoke_async(func, run.args, run.kwargs)
        except TimeoutError:
            assert run.timeout is not None  # only a deadline raises here
            duration = time.perf_counter() - start
            return timed_out(run.timeout, started_at, duration, "it was cancelled")
