"""The metrics hook: off costs nothing, labels stay bounded, several processes add up."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from dueq.shared.metrics import NO_METRICS, start_metrics, start_supervised_metrics
from dueq.shared.prometheus import PrometheusMetrics
from dueq.shared.protocol import JobExecuted, JobRejected
from dueq.shared.settings import DueqSettings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WHO: dict[str, Any] = {"worker_id": "w", "hostname": "h", "pid": 1, "emitted_at": T0}


def _executed(job_id: str) -> JobExecuted:
    return JobExecuted(
        **WHO,
        run_id=f"r-{job_id}",
        job_id=job_id,
        scheduled_at=T0,
        started_at=T0,
        finished_at=T0,
        duration_s=0.5,
        lateness_s=0.1,
        retval=None,
    )


def _samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_off_by_default_and_the_no_op_serves_nothing() -> None:
    metrics = start_metrics("worker", DueqSettings())
    assert metrics is NO_METRICS
    assert metrics.port is None


def test_outcomes_carry_no_job_label_unless_asked_for() -> None:
    metrics = PrometheusMetrics("worker")
    metrics.events_emitted([_executed("a"), _executed("b")])
    samples = _samples(metrics)
    assert samples[("dueq_worker_run_outcomes_total", (("outcome", "executed"),))] == 2
    assert not any(dict(labels).get("job") for _, labels in samples)


def test_with_job_labels_a_rejected_message_cannot_add_a_series_of_its_own() -> None:
    metrics = PrometheusMetrics("scheduler", job_labels=True)
    hostile = [
        JobRejected(**WHO, reason="bad", job_id=f"made-up-{n}", run_id=f"r{n}") for n in range(50)
    ]
    metrics.events_recorded([_executed("daily"), *hostile])
    samples = _samples(metrics)
    key = ("dueq_scheduler_run_outcomes_total", (("job", "daily"), ("outcome", "executed")))
    assert samples[key] == 1
    rejected = [labels for name, labels in samples if name == "dueq_scheduler_run_outcomes_total"]
    assert (("job", ""), ("outcome", "rejected")) in rejected
    assert len(rejected) == 2


_CHILD = """
from datetime import UTC, datetime
from dueq.shared.metrics import start_metrics
from dueq.shared.protocol import JobExecuted
from dueq.shared.settings import DueqSettings
t0 = datetime(2026, 1, 1, tzinfo=UTC)
# The supervisor's port: a child must record into the shared directory, not bind it.
metrics = start_metrics("worker", DueqSettings(metrics_port={port}))
assert metrics.port is None
metrics.claims_held(1)
for n in range({count}):
    metrics.events_emitted([JobExecuted(worker_id="w", hostname="h", pid=1, emitted_at=t0,
        run_id=f"r{{n}}", job_id="j", scheduled_at=t0, started_at=t0, finished_at=t0,
        duration_s=0.1, lateness_s=0.0, retval=None)])
print("ok")
"""


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_supervisors_worker_processes_are_served_as_one_sum_on_its_port() -> None:
    supervised = start_supervised_metrics(DueqSettings(metrics_port=0))
    assert supervised is not None
    try:
        pids = []
        for count in (3, 4):
            code = _CHILD.format(port=supervised.port, count=count)
            child = subprocess.Popen([sys.executable, "-c", code])  # inherits the directory
            assert child.wait(60) == 0
            pids.append(child.pid)
        totals = _scrape(supervised.port)
        assert totals[("dueq_worker_run_outcomes_total", (("outcome", "executed"),))] == 7
        supervised.child_exited(pids[0])
        assert _scrape(supervised.port)[("dueq_worker_claims_held", ())] == 1
    finally:
        supervised.close()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
