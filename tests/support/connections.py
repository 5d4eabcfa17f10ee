"""A broker connection with one test's topology declared, and deleted again afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dueq.shared.broker import BrokerConnection
from dueq.shared.topology import Topology

__all__ = ["topology_connection"]


@contextmanager
def topology_connection(
    url: str, topology: Topology, *, name: str | None = None
) -> Iterator[BrokerConnection]:
    """A connected ``BrokerConnection`` on ``url`` with ``topology`` declared.

    On exit it is closed and the topology deleted through a fresh connection: the test may
    have broken the first one on purpose, and queues left behind would leak into later
    tests (memory://) or pile up on the shared broker (amqp://).
    """
    conn = BrokerConnection(url, name=name)
    conn.connect()
    conn.declare_topology(topology)
    yield conn
    conn.close()
    with BrokerConnection(url) as cleaner:
        cleaner.delete_topology(topology)
