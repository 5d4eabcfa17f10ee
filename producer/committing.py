"""A confirmed batch's commit, run on a helper thread while the loop sends the next batch.

During a burst the loop's commit of batch k (the fence, the advance, remove and record
statements, PostgreSQL's fsync) is waiting on the database, not work: 40-370 ms a batch on
the shared 2-core host, all of it on the path to the burst's last confirm.  A helper
thread waits for it instead, while the loop fetches, plans and sends batch k+1.  The loop
keeps at most one commit running, settles it before starting the next (so batches commit
in order) and skips the jobs of a batch whose commit is still running, as it skips those
of the batch in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BackgroundCommit"]

T = TypeVar("T")


class BackgroundCommit(Generic[T]):
    """``commit(batch)`` started on a thread of its own; ``wait()`` returns or raises its end."""

    def __init__(self, batch: T, commit: Callable[[T], None]) -> None:
        self.batch = batch
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(commit,), name="dueq-scheduler-commit", daemon=True
        )
        self._thread.start()

    def _run(self, commit: Callable[[T], None]) -> None:
        try:
            commit(self.batch)
        except BaseException as exc:  # handed to the loop's thread by wait()
            self._error = exc

    def wait(self) -> T:
        """Block until the commit has ended; raise what it raised, else return its batch."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.batch
