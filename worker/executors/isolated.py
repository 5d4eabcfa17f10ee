"""One run in a child process of its own, ended if it outlives its timeout.

The child is spawned (like the pool's children, never forked from a threaded worker),
builds its own allowlist from the worker's ``--import`` list, runs the job and sends the
plain ``Outcome`` back through a pipe.  At the deadline the parent kills it: the run is
reported timed out and nothing else was running in that process.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from dueq.shared.protocol import RunRequest
from dueq.worker.registry import Registry
from dueq.worker.runner import Outcome, failure, timed_out

__all__ = ["call_isolated"]

Call = Callable[[Registry, str, list[Any], dict[str, Any], dict[str, Any]], Outcome]

# How long a killed child may take to be reaped before we stop waiting for it.
_REAP_S = 5.0


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
    imports: tuple[str, ...], run: RunRequest, context: dict[str, Any], call: Call
) -> Outcome:
    """Run ``run`` in a fresh child; kill it when ``run.timeout`` passes."""
    assert run.timeout is not None
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
    try:
        # The deadline counts from the start of the child, start-up (imports) included:
        # a job whose imports hang is as stuck as one whose body does.
        if receiver.poll(run.timeout):
            return _received(receiver, started_at, start)
        child.kill()
        what = "its process was killed"
        return timed_out(run.timeout, started_at, time.perf_counter() - start, what)
    finally:
        receiver.close()
        child.join(_REAP_S)


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
