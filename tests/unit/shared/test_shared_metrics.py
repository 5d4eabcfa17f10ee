"""The metrics hook: off costs nothing, labels stay bounded, several processes add up."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from dueq.shared.metrics import NO_METRICS, start_metrics
from dueq.shared.prometheus import PrometheusMetrics, serve_multiprocess
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
import sys
from datetime import UTC, datetime
from dueq.shared.prometheus import PrometheusMetrics
from dueq.shared.protocol import JobExecuted
t0 = datetime(2026, 1, 1, tzinfo=UTC)
metrics = PrometheusMetrics("worker")
for n in range(int(sys.argv[1])):
    metrics.events_emitted([JobExecuted(worker_id="w", hostname="h", pid=1, emitted_at=t0,
        run_id=f"r{n}", job_id="j", scheduled_at=t0, started_at=t0, finished_at=t0,
        duration_s=0.1, lateness_s=0.0, retval=None)])
"""


def test_worker_processes_sharing_a_multiprocess_directory_are_served_as_one_sum(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", _CHILD, str(count)], env=env, check=True)
    server = serve_multiprocess(str(tmp_path), 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    totals = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert totals[("dueq_worker_run_outcomes_total", (("outcome", "executed"),))] == 7
