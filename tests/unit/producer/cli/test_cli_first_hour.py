"""What a newcomer trips over in ``dueq jobs`` and ``dueq runs``, each answered."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dueq.producer import EVENT_JOB_SUBMITTED, BackgroundScheduler, SchedulerEvent
from tests.support.waiting import wait_until
from tests.unit.producer.cli.conftest import Dueq
from tests.unit.producer.cli.test_cli_jobs import add, running_scheduler

__all__ = ["running_scheduler"]  # the fixture, imported for the run-now test

NO_WORKER = "warning: no live worker consumes queue 'default' (job {})"


def test_list_and_show_print_the_cron_expression(dueq: Dueq) -> None:
    add(dueq, "tick", "--cron", "*/5 * * * *")
    assert "cron[minute='*/5']" in dueq("jobs", "list").stdout
    assert "cron[minute='*/5']" in dueq("jobs", "show", "tick").stdout


def test_a_new_trigger_keeps_a_paused_job_paused(dueq: Dueq, dueq_json: Callable[..., Any]) -> None:
    add(dueq, "tick", "--cron", "*/5 * * * *")
    assert dueq("jobs", "pause", "tick").exit_code == 0
    result = dueq("jobs", "modify", "tick", "--cron", "*/10 * * * *")
    assert result.exit_code == 0, result.stderr
    assert "job tick is still paused" in result.stdout
    job = dueq_json("jobs", "show", "tick")
    assert job["paused"] is True
    assert job["trigger"]["minute"] == "*/10"


def test_resume_flag_resumes_a_paused_job_with_its_new_trigger(
    dueq: Dueq, dueq_json: Callable[..., Any]
) -> None:
    add(dueq, "tick", "--cron", "*/5 * * * *")
    dueq("jobs", "pause", "tick")
    assert dueq("jobs", "modify", "tick", "--cron", "*/10 * * * *", "--resume").exit_code == 0
    job = dueq_json("jobs", "show", "tick")
    assert job["paused"] is False
    assert job["trigger"]["minute"] == "*/10"


def test_run_now_prints_the_id_the_scheduler_publishes_the_run_under(
    dueq: Dueq, running_scheduler: BackgroundScheduler
) -> None:
    add(dueq, "hourly", "--interval", "1h")
    published: list[str] = []
    seen = threading.Event()

    def on_submitted(event: SchedulerEvent) -> None:
        if getattr(event, "job_id", None) == "hourly":
            published.extend(getattr(event, "run_ids", []))
            seen.set()

    running_scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED)
    result = dueq("jobs", "run-now", "hourly")
    assert result.exit_code == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("run ")]
    run_id = line.split()[1].rstrip(";")
    assert seen.wait(10), "the run was not published"
    assert published[-1] == run_id
    assert line.endswith("follow it with: dueq runs --job hourly")


def test_a_past_at_is_accepted_with_a_warning(dueq: Dueq) -> None:
    result = dueq("jobs", "add", "--func", "m:f", "--id", "once", "--at", "2020-01-01T09:00")
    assert result.exit_code == 0
    assert "warning: --at 2020-01-01T09:00:00+00:00 is in the past" in result.stderr


def test_a_future_at_has_no_warning_about_the_past(dueq: Dueq) -> None:
    result = dueq("jobs", "add", "--func", "m:f", "--id", "once", "--at", "2999-01-01T09:00")
    assert "in the past" not in result.stderr


def test_add_and_runs_say_when_no_worker_consumes_the_queue(
    dueq: Dueq, running_scheduler: BackgroundScheduler
) -> None:
    added = dueq("jobs", "add", "--func", "m:f", "--id", "lonely", "--interval", "1h")
    assert NO_WORKER.format("lonely") in added.stderr
    assert dueq("jobs", "run-now", "lonely").exit_code == 0

    def submitted() -> bool:
        return any(r.job_id == "lonely" for r in running_scheduler.history.get_runs(None, 10))

    wait_until(submitted, "the run-now run in the history", timeout=10)
    runs = dueq("runs")
    assert "submitted" in runs.stdout
    assert NO_WORKER.format("lonely") in runs.stderr
