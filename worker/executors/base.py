"""The executor port: where a job function is called.

The worker calls ``execute`` from one of its slot threads (one per unit of concurrency)
and blocks there until the job is done, so the slot count bounds running jobs whatever
the executor: a thread pool calls the job in the slot thread itself, a process pool in a
child process, the asyncio executor on its event loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.context import RunContext
from dueq.worker.runner import Outcome

__all__ = ["CANCELLED_FOR_NEWER", "Executor"]

# The message of a run's job_error when a newer run of its job cancelled it.
CANCELLED_FOR_NEWER = "cancelled by a newer run of the job (overlap cancel_other)"


class Executor(ABC):
    """Calls job functions; ``start`` before the first ``execute``, ``shutdown`` after the last."""

    #: The name shown in ``worker_online`` and accepted by ``--executor``.
    kind: str = ""

    def start(self) -> None:
        """Acquire resources (processes, an event loop); default: none."""
        return None

    @abstractmethod
    def refusal(self, func: Callable[..., Any]) -> str | None:
        """Why this executor cannot run ``func`` (e.g. ``async def`` on threads), or None."""

    @abstractmethod
    def execute(self, run: RunRequest, func: Callable[..., Any], context: RunContext) -> Outcome:
        """Run ``func`` with the run's arguments, ``context`` as ``current_run()``.

        Never raises for a failure of the job itself: that is an ``Outcome`` with an
        error.  Blocks the calling slot thread until the job is done, or until
        ``run.timeout`` has passed (an ``Outcome`` with ``timed_out``; how the job is
        stopped depends on the executor, see docs/run-control.md).
        """

    def cancel(self, job_id: str) -> int:
        """Stop this executor's running calls of ``job_id`` where it can; how many.

        Default: none can be stopped (a thread cannot).  Used by ``overlap=cancel_other``.
        """
        return 0

    def cancel_run(self, run_id: str) -> bool:
        """Stop the running call of ``run_id`` where this executor can; True if it did.

        The call then ends with a ``job_error`` saying ``CANCELLED_FOR_NEWER``.  Default:
        it cannot (a thread cannot be stopped).  Used when a newer run on another worker
        asks (``overlap=cancel_other`` across the fleet, through the claims).
        """
        return False

    def shutdown(self) -> None:
        """Release resources; running calls have finished (the worker waited for them)."""
        return None
