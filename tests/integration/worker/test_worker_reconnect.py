"""A worker rides out a lost broker connection: it reconnects and keeps serving."""

from __future__ import annotations

import subprocess

from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until


def _connection_pid(connection_name: str) -> str | None:
    listing = subprocess.run(
        [
            "rabbitmqctl",
            "list_connections",
            "pid",
            "client_properties",
            "--quiet",
            "--no-table-headers",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for line in listing.stdout.splitlines():
        if f'"{connection_name}"' in line:
            return line.split("\t", 1)[0]
    return None


def test_a_worker_whose_connection_is_closed_by_the_broker_reconnects_and_keeps_serving(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    worker = start_worker()
    first = make_run(f"{JOBS}:add", args=[1, 1])
    probe.publish(first)
    probe.wait_event(first.run_id, "job_executed")
    name = f"dueq-worker {worker.worker_id}"
    pid = _connection_pid(name)
    assert pid, f"no broker connection named {name!r}"

    subprocess.run(
        ["rabbitmqctl", "close_connection", pid, "closed by a dueq test"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    wait_until(lambda: (_connection_pid(name) or pid) != pid, "a new connection", timeout=30)
    second = make_run(f"{JOBS}:add", args=[2, 2])
    probe.publish(second)
    assert probe.wait_event(second.run_id, "job_executed").retval == 4  # type: ignore[union-attr]
