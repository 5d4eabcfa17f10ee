"""Fixtures for the broker adapter on kombu's in-memory transport.

The memory transport's queues and exchanges are process-wide (the URL's virtual host does
not separate them), so each test gets its own topology prefix and deletes what it made.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from shared.broker import BrokerConnection
from shared.topology import Topology

DrainUntil = Callable[[BrokerConnection, Callable[[], bool]], None]

# Generous: a passing test needs milliseconds; only a broken one waits this long.
_DRAIN_DEADLINE_S = 10.0


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves threads running or file descriptors (sockets) open."""
    threads = set(threading.enumerate())
    fds = set(os.listdir("/proc/self/fd"))
    yield
    leaked_threads = [t for t in threading.enumerate() if t not in threads]
    assert not leaked_threads, f"threads left running: {leaked_threads}"
    leaked_fds = set(os.listdir("/proc/self/fd")) - fds
    assert not leaked_fds, f"file descriptors left open: {sorted(leaked_fds)}"


@pytest.fixture
def memory_topology() -> Topology:
    """A topology whose prefix no other test uses."""
    return Topology(prefix=f"dqt-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def memory_conn(
    memory_broker_url: str, memory_topology: Topology, no_leaks: None
) -> Iterator[BrokerConnection]:
    """A connected memory:// connection with the test's topology declared (and deleted after)."""
    conn = BrokerConnection(memory_broker_url)
    conn.connect()
    conn.declare_topology(memory_topology)
    yield conn
    conn.close()
    with BrokerConnection(memory_broker_url) as cleaner:
        cleaner.delete_topology(memory_topology)


@pytest.fixture
def drain_until() -> DrainUntil:
    """``drain_until(conn, condition)``: drive ``conn`` until ``condition()`` holds."""

    def drain(conn: BrokerConnection, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + _DRAIN_DEADLINE_S
        while not condition():
            assert time.monotonic() < deadline, "condition not met while draining events"
            conn.drain_events(timeout=0.05)

    return drain
