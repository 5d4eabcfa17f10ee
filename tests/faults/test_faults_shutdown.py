"""SIGTERM stops a process that is riding out an outage, promptly.

A service that retries forever while its broker or database is down must still obey a
stop request (a deploy, a scale-down, Ctrl-C): otherwise it is killed after the
orchestrator's grace period and its shutdown path never runs.  Found by the secrets test,
whose failing processes would not stop.
"""

from __future__ import annotations

import time

from tests.faults.faults_procs import Proc
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import Rig, closed_port, with_address

RETRY_LOG = r"temporary (broker|database) error \(attempt [2-9]"
# A stop request must end the process within this time, backoff included (the longest
# backoff between attempts is 5 s; a stop should not wait for it).
STOP_BOUND_S = 6.0


def _unreachable(url: str) -> str:
    return with_address(url, port=closed_port())


def _stop_time(proc: Proc) -> float:
    proc.wait_for_log(RETRY_LOG, timeout=30)
    began = time.monotonic()
    proc.terminate(timeout=STOP_BOUND_S + 1)  # killed after that: the test has failed
    return time.monotonic() - began


def test_sigterm_stops_a_worker_whose_broker_is_unreachable(rig: Rig, figures: Figures) -> None:
    worker = rig.worker("worker", broker_url=_unreachable(rig.broker_url))
    took = _stop_time(worker)
    print(f"worker stopped {took:.1f} s after SIGTERM while retrying the broker")
    figures["worker_stop_during_broker_outage_s"] = took
    assert took < STOP_BOUND_S


def test_sigterm_stops_a_scheduler_whose_database_is_unreachable(
    rig: Rig, figures: Figures
) -> None:
    scheduler = rig.scheduler("scheduler", database_url=_unreachable(rig.database_url))
    took = _stop_time(scheduler)
    print(f"scheduler stopped {took:.1f} s after SIGTERM while retrying the database")
    figures["scheduler_stop_during_database_outage_s"] = took
    assert took < STOP_BOUND_S
