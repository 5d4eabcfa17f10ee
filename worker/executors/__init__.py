"""Executors: thread (default), process and asyncio (see ``base.Executor``)."""

from __future__ import annotations

from dueq.worker.executors.asyncio import AsyncioExecutor
from dueq.worker.executors.base import Executor
from dueq.worker.executors.process import ProcessExecutor
from dueq.worker.executors.thread import ThreadExecutor

__all__ = ["AsyncioExecutor", "Executor", "ProcessExecutor", "ThreadExecutor", "build_executor"]


def build_executor(
    kind: str, *, concurrency: int, imports: tuple[str, ...], allow_callables: bool = False
) -> Executor:
    """The executor named ``kind`` (``thread``, ``process`` or ``asyncio``)."""
    if kind == "process":
        return ProcessExecutor(concurrency, imports, allow_callables=allow_callables)
    if kind == "asyncio":
        return AsyncioExecutor()
    return ThreadExecutor()
