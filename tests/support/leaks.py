"""Leak checks: a test must not leave threads running or file descriptors open."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["no_new_threads_or_fds"]


@contextmanager
def no_new_threads_or_fds() -> Iterator[None]:
    """Fail if the block leaves threads running or file descriptors (sockets) open.

    A connection that is not closed keeps its socket (and often a thread) alive: in a
    long test run those pile up and make later tests fail for reasons far from the cause.
    """
    threads = set(threading.enumerate())
    fds = set(os.listdir("/proc/self/fd"))
    yield
    leaked_threads = [t for t in threading.enumerate() if t not in threads]
    assert not leaked_threads, f"threads left running: {leaked_threads}"
    leaked_fds = set(os.listdir("/proc/self/fd")) - fds
    assert not leaked_fds, f"file descriptors left open: {sorted(leaked_fds)}"
