"""Both metrics endpoints, scraped during a real run: the counters move as runs publish,
execute and fail, and leadership, claims and queue depth are reported."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.observe.conftest import DEADLINE_S, StackFactory
from tests.integration.producer.producer_support import force_close_connections
from tests.jobs_for_tests.harness import JOBS
from tests.support.waiting import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int | None) -> Samples:
    """Every sample on ``/metrics`` of ``port``, keyed by name and labels."""
    assert port is not None, "metrics are not being served"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_scheduler_and_worker_metrics_count_published_executed_and_failed_runs(
    start_stack: StackFactory,
) -> None:
    stack = start_stack({"metrics_port": 0}, {"metrics_port": 0, "heartbeat_interval": 0.2})
    scheduler, worker = stack.scheduler, stack.worker
    before = scrape(scheduler.metrics_port)
    assert value(before, "dueq_scheduler_leader") == 1
    assert value(before, "dueq_scheduler_lease_epoch") >= 1
    assert value(before, "dueq_scheduler_runs_published_total", queue="default") == 0

    now = datetime.now(UTC)
    scheduler.add_job(f"{JOBS}:add", "date", run_date=now, args=[1, 2], id="ok")
    scheduler.add_job(f"{JOBS}:fail", "date", run_date=now, args=["boom"], id="bad")

    def recorded() -> Samples | None:
        samples = scrape(scheduler.metrics_port)
        executed = value(samples, "dueq_scheduler_run_outcomes_total", outcome="executed")
        failed = value(samples, "dueq_scheduler_run_outcomes_total", outcome="error")
        return samples if (executed, failed) == (1, 1) else None

    at_scheduler = wait_until(recorded, "1 executed and 1 failed run recorded", timeout=DEADLINE_S)
    at_worker = scrape(worker.metrics_port)

    assert value(at_scheduler, "dueq_scheduler_runs_published_total", queue="default") == 2
    assert value(at_scheduler, "dueq_scheduler_publish_lag_seconds_count", queue="default") == 2
    assert value(at_scheduler, "dueq_scheduler_events_total", event="job_executed") == 1
    assert value(at_scheduler, "dueq_scheduler_run_duration_seconds_count", outcome="error") == 1
    assert value(at_scheduler, "dueq_scheduler_start_lag_seconds_count") == 2
    assert value(at_worker, "dueq_worker_run_outcomes_total", outcome="executed") == 1
    assert value(at_worker, "dueq_worker_run_outcomes_total", outcome="error") == 1
    assert value(at_worker, "dueq_worker_start_lag_seconds_count") == 2
    assert value(at_worker, "dueq_worker_run_duration_seconds_count", outcome="executed") == 1
    assert value(at_worker, "dueq_worker_events_total", event="worker_online") == 1
    assert value(at_worker, "dueq_worker_events_total", event="job_executed") == 1
    assert value(at_worker, "dueq_worker_events_total", event="job_error") == 1

    def settled() -> bool:
        # Sampled at each heartbeat (0.2 s): one taken while a run still held its claim
        # says 1 until the next; the gauges must come back to zero once the runs are done.
        samples = scrape(worker.metrics_port)
        depth = ("dueq_worker_queue_depth", frozenset({("queue", "default")}))
        held: tuple[str, frozenset[tuple[str, str]]] = ("dueq_worker_claims_held", frozenset())
        return samples.get(depth) == 0 and samples.get(held) == 0

    wait_until(settled, "queue depth and claims held sampled at 0", timeout=DEADLINE_S)


def test_a_broker_connection_closed_under_them_counts_as_a_reconnect_on_both_sides(
    start_stack: StackFactory,
) -> None:
    stack = start_stack({"metrics_port": 0}, {"metrics_port": 0})
    scheduler, worker = stack.scheduler, stack.worker
    scheduler_id = scheduler.settings.scheduler_id

    closed = force_close_connections(f"dueq-scheduler {scheduler_id}")
    closed += force_close_connections(f"dueq-worker {worker.worker_id}")

    assert closed == 2
    wait_until(
        lambda: value(scrape(scheduler.metrics_port), "dueq_scheduler_reconnects_total",
                      connection="scheduler") == 1,
        "the scheduler's reconnect counted",
        timeout=DEADLINE_S,
    )  # fmt: skip
    wait_until(
        lambda: value(scrape(worker.metrics_port), "dueq_worker_reconnects_total",
                      connection="worker") == 1,
        "the worker's reconnect counted",
        timeout=DEADLINE_S,
    )  # fmt: skip
