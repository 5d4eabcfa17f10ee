"""AsyncIOScheduler inside a running event loop: APScheduler's verbs, listeners on the loop.

A worker runs the job over kombu's memory transport; the loop keeps ticking while the
scheduler works in its background threads.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dueq import (
    EVENT_JOB_ADDED,
    EVENT_JOB_EXECUTED,
    AsyncIOScheduler,
    JobExecutionEvent,
    SchedulerEvent,
    Worker,
    WorkerSettings,
)

DEADLINE_S = 20.0


def double(x: int) -> int:
    return 2 * x


async def _ticks(count: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        count[0] += 1
        await asyncio.sleep(0.005)


def test_jobs_run_and_listeners_are_called_on_the_loop_that_started_the_scheduler(
    memory_broker_url: str,
) -> None:
    settings: dict[str, Any] = {"broker_url": memory_broker_url, "queue_type": "classic"}
    worker = Worker(WorkerSettings(**settings, imports=(__name__,), concurrency=1))

    async def main() -> tuple[list[tuple[int, bool, Any]], int]:
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        heard: list[tuple[int, bool, Any]] = []
        done = asyncio.Event()

        def listener(event: SchedulerEvent) -> None:
            on_loop = threading.get_ident() == loop_thread and asyncio.get_running_loop() is loop
            heard.append((event.code, on_loop, getattr(event, "retval", None)))
            if isinstance(event, JobExecutionEvent):
                done.set()

        async def coroutine_listener(event: SchedulerEvent) -> None:
            heard.append((-event.code, threading.get_ident() == loop_thread, None))

        scheduler = AsyncIOScheduler(database_url="memory://", **settings)
        scheduler.add_listener(listener, EVENT_JOB_ADDED | EVENT_JOB_EXECUTED)
        scheduler.add_listener(coroutine_listener, EVENT_JOB_EXECUTED)
        ticks, stop = [0], asyncio.Event()
        ticker = asyncio.create_task(_ticks(ticks, stop))
        scheduler.start()
        try:
            scheduler.add_job(double, "date", args=[21], id="once")
            await asyncio.wait_for(done.wait(), DEADLINE_S)
            await asyncio.sleep(0)  # the coroutine listener's task runs next
        finally:
            scheduler.shutdown()
            stop.set()
            await ticker
        return heard, ticks[0]

    worker.start()
    try:
        heard, ticks = asyncio.run(main())
    finally:
        worker.stop()
    assert (EVENT_JOB_ADDED, True, None) in heard
    assert (EVENT_JOB_EXECUTED, True, 42) in heard
    assert (-EVENT_JOB_EXECUTED, True, None) in heard
    assert ticks > 1  # the loop ran while the job was scheduled, published and run


def test_starting_outside_a_running_loop_is_refused(memory_broker_url: str) -> None:
    scheduler = AsyncIOScheduler(database_url="memory://", broker_url=memory_broker_url)
    with pytest.raises(RuntimeError, match="running event loop"):
        scheduler.start()
    scheduler.shutdown()
