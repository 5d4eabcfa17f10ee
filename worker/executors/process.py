"""Runs jobs in child processes: for CPU-bound jobs, and to isolate crashes.

Only the function reference and the JSON arguments cross to the child; the child resolves
the reference against the same allowlist (its own ``Registry`` built from the worker's
``--import`` list), so nothing but plain data is ever pickled into it.

A run with a ``timeout`` or ``overlap=cancel_other`` gets a child of its own
(``executors.isolated``): a pool child cannot be ended without breaking every other run it
would serve, while a dedicated one can be killed at the deadline, or when a newer run of
its job cancels it, without touching anything else.
"""

from __future__ import annotations

import inspect
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

from dueq.shared.protocol import Overlap, RunRequest
from dueq.worker.context import RunContext, running
from dueq.worker.executors.base import Executor
from dueq.worker.executors.isolated import call_isolated
from dueq.worker.executors.thread import ASYNC_REFUSAL
from dueq.worker.registry import Registry
from dueq.worker.runner import Outcome, failure, invoke

__all__ = ["ProcessExecutor"]

# The child's own allowlist, built once per child process by the pool initializer.
_child_registry: Registry | None = None


def _init_child(imports: tuple[str, ...], allow_callables: bool = False) -> None:
    global _child_registry  # per child process state, set once by the pool initializer
    registry = Registry(imports, allow_callables=allow_callables)
    registry.load()
    _child_registry = registry


def _call_in_child(
    ref: str, args: list[Any], kwargs: dict[str, Any], context: dict[str, Any]
) -> Outcome:
    if _child_registry is None:
        raise RuntimeError("process executor child was not initialized")
    return call_resolved(_child_registry, ref, args, kwargs, context)


def call_resolved(
    registry: Registry, ref: str, args: list[Any], kwargs: dict[str, Any], context: dict[str, Any]
) -> Outcome:
    """Resolve ``ref`` in this (child) process and call it with ``context`` as current run."""
    started_at = datetime.now(UTC)
    try:
        func = registry.resolve(ref)
    except Exception as exc:  # reported as the run's error, never a crashed child
        return failure(exc, started_at, 0.0)
    with running(RunContext(**context)):
        return invoke(func, args, kwargs)


class ProcessExecutor(Executor):
    """A ``ProcessPoolExecutor`` of ``processes`` spawned children.

    ``spawn`` (not fork): the worker process has threads (broker, slots, leases), and
    forking a threaded process can copy a held lock into the child.
    """

    kind = "process"

    def __init__(
        self, processes: int, imports: tuple[str, ...], *, allow_callables: bool = False
    ) -> None:
        self._allow_callables = allow_callables
        self._processes = processes
        self._imports = imports
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        # Runs in children of their own that may be cancelled: run id -> (job id, flag).
        self._cancellable: dict[str, tuple[str, threading.Event]] = {}

    def start(self) -> None:
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(self._imports, self._allow_callables),
        )

    def refusal(self, func: Callable[..., Any]) -> str | None:
        return ASYNC_REFUSAL if inspect.iscoroutinefunction(func) else None

    def execute(self, run: RunRequest, func: Callable[..., Any], context: RunContext) -> Outcome:
        if run.timeout is not None or run.overlap is Overlap.CANCEL_OTHER:
            return self._execute_isolated(run, context)
        pool = self._current_pool()
        started_at, start = datetime.now(UTC), time.perf_counter()
        try:
            call = pool.submit(_call_in_child, run.func, run.args, run.kwargs, context.as_dict())
            return call.result()
        except BrokenProcessPool as exc:
            # A child died (os._exit, a segfault, the OOM killer): report it as this run's
            # error and give the next run a fresh pool.
            self._replace(pool)
            return failure(exc, started_at, time.perf_counter() - start)

    def _execute_isolated(self, run: RunRequest, context: RunContext) -> Outcome:
        cancelled = threading.Event()
        with self._lock:
            self._cancellable[run.run_id] = (run.job_id, cancelled)
        try:
            return call_isolated(
                self._imports, run, context.as_dict(), call_resolved, cancelled=cancelled
            )
        finally:
            with self._lock:
                self._cancellable.pop(run.run_id, None)

    def cancel(self, job_id: str) -> int:
        with self._lock:
            flags = [flag for job, flag in self._cancellable.values() if job == job_id]
        for flag in flags:
            flag.set()
        return len(flags)

    def cancel_run(self, run_id: str) -> bool:
        with self._lock:
            entry = self._cancellable.get(run_id)
        if entry is None:
            return False
        entry[1].set()
        return True

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                raise RuntimeError("ProcessExecutor.execute() before start()")
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = self._new_pool()
        broken.shutdown(wait=False)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
