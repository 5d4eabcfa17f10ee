"""One run in a child process of its own, ended if it outlives its timeout or is cancelled.

The child is spawned (like the pool's children, never forked from a threaded worker),
builds its own allowlist from the worker's ``--import`` list, runs the job and sends the
plain ``Outcome`` back through a pipe.  At the deadline, or when a newer run of the job
cancels it (``overlap=cancel_other``), the parent kills it: nothing else was running in
that process.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.executors.base import CANCELLED_FOR_NEWER
from dueq.worker.registry import Registry
from dueq.worker.runner import Outcome, failure, stopped, timed_out

__all__ = ["call_isolated"]

Call = Callable[[Registry, str, list[Any], dict[str, Any], dict[str, Any]], Outcome]

# How long a killed child may take to be reaped before we stop waiting for it.
_REAP_S = 5.0
# How often the parent looks at the cancel flag while the child runs: a cancel request
# ends the child within this.
_CANCEL_POLL_S = 0.1


def _child(
    imports: tuple[str, ...],
    call: Call,
    ref: str,
    args: list[Any],
    kwargs: dict[str, Any],
    context: dict[str, Any],
    pipe: Connection,
) -> None:
    registry = Registry(imports)
    registry.load()
    pipe.send(call(registry, ref, args, kwargs, context))
    pipe.close()


def call_isolated(
    imports: tuple[str, ...],
    run: RunRequest,
    context: dict[str, Any],
    call: Call,
    cancelled: threading.Event | None = None,
) -> Outcome:
    """Run ``run`` in a fresh child; kill it when ``run.timeout`` passes or ``cancelled``
    is set."""
    spawn = multiprocessing.get_context("spawn")
    receiver, sender = spawn.Pipe(duplex=False)
    child = spawn.Process(
        target=_child,
        args=(imports, call, run.func, run.args, run.kwargs, context, sender),
        name=f"dueq-job-{run.run_id}",
        daemon=True,
    )
    started_at, start = datetime.now(UTC), time.perf_counter()
    child.start()
    sender.close()
    # The deadline counts from the start of the child, start-up (imports) included:
    # a job whose imports hang is as stuck as one whose body does.
    deadline = None if run.timeout is None else start + run.timeout
    try:
        while not receiver.poll(_wait_s(deadline, cancelled)):
            elapsed = time.perf_counter() - start
            if cancelled is not None and cancelled.is_set():
                child.kill()
                return stopped(started_at, elapsed, CANCELLED_FOR_NEWER)
            if deadline is not None and run.timeout is not None and elapsed >= run.timeout:
                child.kill()
                return timed_out(run.timeout, started_at, elapsed, "its process was killed")
        return _received(receiver, started_at, start)
    finally:
        receiver.close()
        child.join(_REAP_S)


def _wait_s(deadline: float | None, cancelled: threading.Event | None) -> float | None:
    """How long to wait for the child's answer before looking at the clock and the flag."""
    left = None if deadline is None else max(0.0, deadline - time.perf_counter())
    if cancelled is None:
        return left
    return _CANCEL_POLL_S if left is None else min(left, _CANCEL_POLL_S)


def _received(receiver: Connection, started_at: datetime, start: float) -> Outcome:
    try:
        outcome = receiver.recv()
    except (EOFError, OSError) as exc:  # the child died before answering
        return failure(
            RuntimeError(f"the job's process ended without a result: {exc!r}"),
            started_at,
            time.perf_counter() - start,
        )
    assert isinstance(outcome, Outcome)
    return outcome
