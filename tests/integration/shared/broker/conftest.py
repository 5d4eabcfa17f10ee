"""Fixtures for the broker adapter against the real RabbitMQ.

Builds on ``rabbitmq_url`` and ``topology`` from tests/conftest.py; adds a connected
``BrokerConnection`` that also deletes the test's exchanges afterwards, a leak check, and
a way to have the broker force-close connections (as an operator or a node restart does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from shared.broker import BrokerConnection
from shared.topology import Topology

DrainUntil = Callable[[BrokerConnection, Callable[[], bool]], None]
ForceClose = Callable[[str], int]

# Generous: a passing test needs milliseconds; only a broken one waits this long.
_DRAIN_DEADLINE_S = 20.0


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
def amqp_conn(rabbitmq_url: str, topology: Topology, no_leaks: None) -> Iterator[BrokerConnection]:
    """A connection named after the test's prefix, with the test's topology declared."""
    conn = BrokerConnection(rabbitmq_url, name=f"{topology.prefix}-main")
    conn.connect()
    conn.declare_topology(topology)
    yield conn
    conn.close()
    with BrokerConnection(rabbitmq_url) as cleaner:
        cleaner.delete_topology(topology)


@pytest.fixture
def drain_until() -> DrainUntil:
    """``drain_until(conn, condition)``: drive ``conn`` until ``condition()`` holds."""

    def drain(conn: BrokerConnection, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + _DRAIN_DEADLINE_S
        while not condition():
            assert time.monotonic() < deadline, "condition not met while draining events"
            conn.drain_events(timeout=0.1)

    return drain


@pytest.fixture
def force_close() -> ForceClose:
    """``force_close(name_prefix)``: the broker closes every connection so named.

    Returns how many it closed.  Uses ``rabbitmqctl``, as an operator would.
    """

    def close(name_prefix: str) -> int:
        listing = _rabbitmqctl("list_connections", "pid", "client_properties")
        pids = [
            line.split("\t", 1)[0]
            for line in listing.splitlines()
            if f'{{"connection_name","{name_prefix}' in line
        ]
        for pid in pids:
            _rabbitmqctl("close_connection", pid, "dueq test: forced close")
        return len(pids)

    return close


@pytest.fixture
def list_queues() -> Callable[[], str]:
    """``list_queues()``: rabbitmqctl's ``name type arguments`` table of every queue."""
    return lambda: _rabbitmqctl("list_queues", "name", "type", "arguments")


def _rabbitmqctl(command: str, *args: str) -> str:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        pytest.fail("rabbitmqctl is needed to inspect and control the broker", pytrace=False)
    table = ["--quiet", "--no-table-headers"] if command.startswith("list_") else []
    done = subprocess.run(
        [executable, command, *args, *table],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout
