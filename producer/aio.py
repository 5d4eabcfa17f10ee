"""``AsyncIOScheduler``: APScheduler 3's scheduler for asyncio applications.

The scheduling loop, events and listener feed run in background threads, as in every dueq
scheduler, so nothing the scheduler does in the background ever runs on (or stalls) the
application's event loop.  What the asyncio flavour adds is where listeners run: on the
event loop the scheduler was started in (``loop.call_soon_threadsafe``), like APScheduler's
``AsyncIOScheduler``; a listener that is a coroutine function is run as a task there.

The verbs are APScheduler's, synchronous: each is one short database round trip.  Code
that must not wait even that long on a remote database can call them in a thread
(``await asyncio.to_thread(scheduler.add_job, ...)``); every verb is thread-safe.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from dueq.producer.listeners import Listener, SchedulerEvent
from dueq.producer.scheduler import Scheduler

__all__ = ["AsyncIOScheduler"]

logger = logging.getLogger(__name__)


class AsyncIOScheduler(Scheduler):
    """A scheduler whose listeners are called on an asyncio event loop.

    The loop is ``event_loop=`` if given, else the loop running when the scheduler is made
    or started.  ``start()`` returns at once; ``shutdown(wait=False)`` never blocks.
    """

    def __init__(self, *args: Any, event_loop: asyncio.AbstractEventLoop | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = event_loop or _running_loop()
        if self._loop is not None:
            self._dispatcher.call_with(self._on_loop)

    def start(self, paused: bool = False) -> None:
        """Start in background threads; listeners are called on the running loop."""
        if self._loop is None:
            self._loop = _running_loop()
            if self._loop is None:
                raise RuntimeError("start an AsyncIOScheduler from a running event loop")
            self._dispatcher.call_with(self._on_loop)
        super().start(paused=paused)

    def _on_loop(self, callback: Listener, event: SchedulerEvent) -> None:
        loop = self._loop
        assert loop is not None
        if loop.is_closed():
            logger.warning("event loop closed: listener %r did not get %s", callback, event)
            return
        loop.call_soon_threadsafe(self._call, loop, callback, event)

    def _call(
        self, loop: asyncio.AbstractEventLoop, callback: Listener, event: SchedulerEvent
    ) -> None:
        """On the loop: call the listener, contain its failure, run a coroutine as a task."""
        try:
            result = callback(event)
        except Exception:
            logger.exception("listener %r failed on %s", callback, event)
            return
        if inspect.isawaitable(result):
            task = loop.create_task(_awaited(result, callback, event))
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _awaited(result: Any, callback: Listener, event: SchedulerEvent) -> None:
    try:
        await result
    except Exception:
        logger.exception("listener %r failed on %s", callback, event)
