"""Fixtures for the broker adapter on kombu's in-memory transport.

The memory transport's queues and exchanges are process-wide (the URL's virtual host does
not separate them), so each test gets its own topology prefix and deletes what it made.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator

import pytest

from dueq.shared.broker import BrokerConnection
from dueq.shared.topology import Topology
from tests.support.connections import topology_connection
from tests.support.draining import DrainUntil
from tests.support.draining import drain_until as drain_until_
from tests.support.leaks import no_new_threads_or_fds

# Generous: a passing test needs milliseconds; only a broken one waits this long.
_DRAIN_DEADLINE_S = 10.0


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves threads running or file descriptors (sockets) open."""
    with no_new_threads_or_fds():
        yield


@pytest.fixture
def memory_topology() -> Topology:
    """A topology whose prefix no other test uses."""
    return Topology(prefix=f"dqt-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def memory_conn(
    memory_broker_url: str, memory_topology: Topology, no_leaks: None
) -> Iterator[BrokerConnection]:
    """A connected memory:// connection with the test's topology declared (and deleted after)."""
    with topology_connection(memory_broker_url, memory_topology) as conn:
        yield conn


@pytest.fixture
def drain_until() -> DrainUntil:
    """``drain_until(conn, condition)``: drive ``conn`` until ``condition()`` holds."""
    return functools.partial(drain_until_, timeout=_DRAIN_DEADLINE_S, slice_s=0.05)
