"""Helpers for the scheduler's tests: collect published runs, wait for conditions."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from dueq.shared.broker import BrokerConnection, Consumer, IncomingMessage
from dueq.shared.protocol import RunRequest, decode_run
from dueq.shared.topology import Topology
from tests.support.waiting import wait_until

__all__ = [
    "DEADLINE_S",
    "STORE_NOW",
    "RunCollector",
    "force_close_connections",
]

# The clock of the store contract suites: every backend is opened at this instant.
STORE_NOW = datetime(2024, 1, 1, 12, tzinfo=UTC)

# Generous: a passing test needs far less; only a broken one waits this long.
DEADLINE_S = 20.0


class RunCollector:
    """Consumes one job queue in a thread (and connection) of its own; keeps every run."""

    def __init__(self, url: str, topology: Topology, queue: str = "default") -> None:
        self._url = url
        self._topology = topology
        self._queue = queue
        self._lock = threading.Lock()
        self._runs: list[RunRequest] = []
        self._messages: list[IncomingMessage] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._consumer: Consumer | None = None
        self._thread = threading.Thread(target=self._run, name=f"collector-{queue}", daemon=True)

    def __enter__(self) -> RunCollector:
        self._thread.start()
        assert self._ready.wait(DEADLINE_S), "collector did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(DEADLINE_S)
        assert self._failure is None, f"collector failed: {self._failure!r}"

    @property
    def runs(self) -> list[RunRequest]:
        with self._lock:
            return list(self._runs)

    @property
    def messages(self) -> list[IncomingMessage]:
        with self._lock:
            return list(self._messages)

    def wait_for(
        self, condition: Callable[[list[RunRequest]], bool], what: str, timeout: float = DEADLINE_S
    ) -> list[RunRequest]:
        """Wait until ``condition(runs so far)`` holds; return the runs."""
        wait_until(lambda: condition(self.runs), what, timeout=timeout)
        return self.runs

    def _run(self) -> None:
        try:
            with BrokerConnection(self._url) as connection:
                connection.declare_topology(self._topology, [self._queue])
                self._consumer = connection.consumer(
                    [self._topology.run_queue(self._queue)], prefetch=500, on_message=self._on
                )
                self._consumer.start()
                self._ready.set()
                while not self._stop.is_set():
                    connection.drain_events(0.05)
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    def _on(self, message: IncomingMessage) -> None:
        assert self._consumer is not None
        run = decode_run(message.body)
        with self._lock:
            self._runs.append(run)
            self._messages.append(message)
        self._consumer.ack(message.delivery_tag)


def force_close_connections(name: str) -> int:
    """Have RabbitMQ close every connection whose client-given name is exactly ``name``."""
    executable = shutil.which("rabbitmqctl")
    assert executable is not None, "rabbitmqctl is needed to force-close connections"
    listing = subprocess.run(
        [executable, "list_connections", "pid", "client_properties", "--quiet",
         "--no-table-headers"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    pids = [
        line.split("\t", 1)[0]
        for line in listing.splitlines()
        if f'{{"connection_name","{name}"}}' in line
    ]
    for pid in pids:
        subprocess.run(
            [executable, "close_connection", pid, "dueq test: forced close"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
    return len(pids)
