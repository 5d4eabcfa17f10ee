"""The worker's execution slots: ``concurrency`` threads, each handling one run at a time.

A slot thread runs a run the gate admitted: the last lateness check, the claim of a run
whose overlap policy may wait, the call (through the executor) and the report, so the slot
count bounds runs in progress whatever the executor.  Runs waiting for a free slot can be
taken back unstarted (shutdown, lost connection) and handed back to the broker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from dueq.worker.checks import Delivery

__all__ = ["SlotPool"]

log = logging.getLogger(__name__)


class SlotPool:
    """``size`` daemon threads calling ``handle(delivery)`` for each submitted delivery."""

    def __init__(self, size: int, handle: Callable[[Delivery], None]) -> None:
        self._size = size
        self._handle = handle
        self._pending: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self._room = threading.Condition()  # notified whenever a slot takes a run

    @property
    def size(self) -> int:
        """How many runs can be handled at once."""
        return self._size

    @property
    def busy(self) -> int:
        """Slots handling a run right now."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Runs submitted and not yet taken by a slot."""
        return self._pending.qsize()

    def wait_for_room(self, limit: int, timeout: float) -> bool:
        """Wait until fewer than ``limit`` runs wait for a slot; False after ``timeout`` s."""
        with self._room:
            return self._room.wait_for(lambda: self._pending.qsize() < limit, timeout)

    def start(self) -> None:
        """Start the slot threads."""
        for number in range(self._size):
            thread = threading.Thread(target=self._serve, name=f"dueq-slot-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for the next free slot."""
        self._pending.put(delivery)

    def take_pending(self) -> list[Delivery]:
        """Remove and return every delivery no slot has started yet."""
        taken = []
        try:
            while True:
                item = self._pending.get_nowait()
                if item is None:
                    self._pending.put(None)  # a stop signal stays for its thread
                    break
                taken.append(item)
        except queue.Empty:
            pass
        return taken

    def close(self) -> None:
        """Ask every slot to exit after its current run (runs still pending go first)."""
        for _ in self._threads:
            self._pending.put(None)

    def alive(self) -> bool:
        """True while any slot thread is still running."""
        return any(thread.is_alive() for thread in self._threads)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the slots to exit; True if all did."""
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(end - time.monotonic(), 0.0))
        return not self.alive()

    def _serve(self) -> None:
        while True:
            delivery = self._pending.get()
            with self._room:
                self._room.notify_all()
            if delivery is None:
                return
            with self._lock:
                self._busy += 1
            try:
                self._handle(delivery)
            except BaseException:  # a slot must outlive anything; last guard
                log.exception("unexpected error handling run %s", delivery.run.run_id)
            finally:
                with self._lock:
                    self._busy -= 1
