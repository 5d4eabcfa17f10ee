"""Jobs added through the API become RunRequests on RabbitMQ, on time, on their queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from dueq.producer import BackgroundScheduler, SchedulerSettings
from dueq.shared.protocol import CONTENT_TYPE, make_run_id
from dueq.shared.topology import Topology
from tests.integration.producer.conftest import MakeScheduler
from tests.integration.producer.producer_support import DEADLINE_S, RunCollector
from tests.support.waiting import wait_until

# A run is published when due; this much late is still "on time" on a busy 2-core host.
ON_TIME = timedelta(seconds=1.0)
# Runs are published up to the look-ahead before they are due (docs/dispatch.md).
LOOKAHEAD = timedelta(seconds=SchedulerSettings.model_fields["lookahead_seconds"].default)
# The paused job's interval, and how long it is watched for runs it must not publish:
# four of its intervals.
PAUSE_STEP_S = 0.25
PAUSE_WINDOW = timedelta(seconds=4 * PAUSE_STEP_S)


def test_interval_cron_and_date_jobs_publish_run_requests_with_the_protocol_fields(
    database_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    scheduler = make_scheduler(database_url)
    now = datetime.now(UTC)
    with (
        RunCollector(rabbitmq_url, topology) as default,
        RunCollector(rabbitmq_url, topology, "reports") as reports,
    ):
        scheduler.start()
        scheduler.add_job(
            "pkg.jobs:tick", "interval", seconds=1, id="interval", args=[1], kwargs={"k": "v"},
            misfire_grace_time=30, max_instances=2,
        )  # fmt: skip
        scheduler.add_job("pkg.jobs:cron", "cron", second="*/2", id="cron", queue="reports")
        once_at = now + timedelta(seconds=1.5)
        scheduler.add_job("pkg.jobs:once", "date", run_date=once_at, id="once")
        runs = default.wait_for(
            lambda rs: sum(r.job_id == "interval" for r in rs) >= 3, "three interval runs"
        )
        cron_runs = reports.wait_for(lambda rs: len(rs) >= 2, "two cron runs")
        wait_until(
            lambda: scheduler.get_job("once") is None,
            "the date job to be removed",
            timeout=DEADLINE_S,
        )
        messages = default.messages

    interval_runs = [r for r in runs if r.job_id == "interval"]
    first = interval_runs[0]
    assert first.run_id == make_run_id("interval", first.scheduled_at)
    assert (first.func, first.job_name, first.args, first.kwargs) == (
        "pkg.jobs:tick", "tick", [1], {"k": "v"}
    )  # fmt: skip
    assert (first.misfire_grace_time, first.max_instances, first.queue) == (30.0, 2, "default")
    assert first.epoch >= 1
    steps = [b.scheduled_at - a.scheduled_at for a, b in pairwise(interval_runs)]
    assert steps == [timedelta(seconds=1)] * len(steps)
    for run in interval_runs + cron_runs:
        assert run.scheduled_at - LOOKAHEAD <= run.published_at <= run.scheduled_at + ON_TIME
    assert all(
        r.scheduled_at.second % 2 == 0 and r.scheduled_at.microsecond == 0 for r in cron_runs
    )
    assert {r.queue for r in cron_runs} == {"reports"}
    [once] = [r for r in runs if r.job_id == "once"]
    assert once.scheduled_at == once_at
    message = next(m for m in messages if m.message_id == first.run_id)
    assert message.correlation_id == first.run_id
    assert message.reply_to == topology.events_queue
    assert message.type == "dueq.run"
    assert message.content_type == CONTENT_TYPE


def test_a_paused_job_publishes_nothing_and_a_resumed_one_continues(
    database_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    scheduler = make_scheduler(database_url)
    with RunCollector(rabbitmq_url, topology) as collector:
        scheduler.start()
        scheduler.add_job("pkg.jobs:tick", "interval", seconds=PAUSE_STEP_S, id="j")
        collector.wait_for(lambda rs: len(rs) >= 1, "a first run")
        scheduler.pause_job("j")
        paused_at = datetime.now(UTC)
        count = len(collector.runs)
        # Absence cannot be awaited: give a paused job four of its intervals to misbehave.
        wait_until(
            lambda: datetime.now(UTC) > paused_at + PAUSE_WINDOW,
            f"{PAUSE_WINDOW.total_seconds():g} s",
            timeout=DEADLINE_S,
        )
        assert len(collector.runs) <= count + 1  # at most one was in flight when pausing
        # Runs published ahead before the pause are submitted (docs/dispatch.md).
        assert all(r.scheduled_at <= paused_at + LOOKAHEAD for r in collector.runs)
        scheduler.resume_job("j")
        runs = collector.wait_for(
            lambda rs: any(r.scheduled_at > paused_at + PAUSE_WINDOW for r in rs),
            "runs after resuming",
        )
    assert len({r.run_id for r in runs}) == len(runs)


def test_coalesce_collapses_missed_runs_and_without_it_each_is_published(
    database_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    client = make_scheduler(database_url)
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    for job_id, coalesce in (("coalesced", True), ("each", False)):
        client.add_job(
            "pkg.jobs:tick", "interval", seconds=10, start_date=past, id=job_id,
            coalesce=coalesce, next_run_time=past,
        )  # fmt: skip
    server: BackgroundScheduler = make_scheduler(database_url)
    with RunCollector(rabbitmq_url, topology) as collector:
        server.start()
        runs = collector.wait_for(lambda rs: len(rs) >= 5, "the catch-up runs")
    missed = [past + timedelta(seconds=s) for s in (0, 10, 20, 30)]
    assert [r.scheduled_at for r in runs if r.job_id == "each"] == missed
    assert [r.scheduled_at for r in runs if r.job_id == "coalesced"] == missed[-1:]
