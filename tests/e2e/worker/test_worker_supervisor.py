"""``dueq worker --processes N``: children with their own ids, restarts, SIGTERM drain."""

from __future__ import annotations

import os
import re
import signal
import socket
import urllib.request
from typing import Any

import pytest

from dueq.shared.protocol import WorkerOffline, WorkerOnline
from tests.e2e.worker.conftest import SpawnWorker
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run

pytestmark = pytest.mark.e2e


def _online(probe: BrokerProbe) -> dict[str, list[int]]:
    """Worker id -> the pids that said worker_online under it, in order."""
    seen: dict[str, list[int]] = {}
    for event in probe.of_type("worker_online"):
        assert isinstance(event, WorkerOnline)
        seen.setdefault(event.worker_id, []).append(event.pid)
    return seen


def test_a_supervisor_runs_n_workers_restarts_a_killed_one_and_drains_all_on_sigterm(
    probe: BrokerProbe, spawn_worker: SpawnWorker
) -> None:
    port = _free_port()
    supervisor = spawn_worker(
        "--processes", "2", "--shutdown-timeout", "20", "--metrics-port", str(port)
    )
    ids = {"e2e-0-1", "e2e-0-2"}
    probe.wait_for(lambda _: set(_online(probe)) == ids, 60, "two children online")
    first = _online(probe)
    assert supervisor.pid not in {pid for pids in first.values() for pid in pids}
    runs = [make_run(f"{JOBS}:add", args=[n, 1]) for n in range(20)]
    probe.publish(*runs)
    probe.wait_for(
        lambda _: all(probe.of_run(r.run_id, "job_executed") for r in runs), 30, "all runs"
    )

    # The supervisor serves the sum of both children's metrics on its one port.
    assert _executed_in_metrics(port) == len(runs)

    victim = first["e2e-0-1"][0]
    os.kill(victim, signal.SIGKILL)

    def restarted(_: Any) -> bool:
        return len(_online(probe).get("e2e-0-1", [])) == 2

    probe.wait_for(restarted, 60, "the killed child restarted under its id")
    crashed = [e for e in probe.of_type("worker_offline") if e.pid == victim]
    assert len(crashed) == 1
    assert isinstance(crashed[0], WorkerOffline)
    assert crashed[0].worker_id == "e2e-0-1"
    assert crashed[0].reason.startswith("crashed")
    assert _online(probe)["e2e-0-1"][1] != victim
    assert supervisor.poll() is None

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0
    alive = {_online(probe)["e2e-0-1"][1], first["e2e-0-2"][0]}

    def drained(_: Any) -> bool:
        offline = probe.of_type("worker_offline")
        return {e.pid for e in offline if getattr(e, "reason", "") == "shutdown"} >= alive

    probe.wait_for(drained, 10, "worker_offline (shutdown) from both children")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executed_in_metrics(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.findall(r'^\w*events_total\{event="job_executed"\} ([0-9.e+]+)$', text, re.M)
    return int(sum(float(value) for value in found))
