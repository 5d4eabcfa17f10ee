"""``dueq jobs``: every verb, and bad input answered with one line and the right exit code."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dueq.producer import EVENT_JOB_SUBMITTED, BackgroundScheduler, SchedulerEvent
from tests.unit.producer.cli.conftest import Dueq

FUNC = "myapp.jobs:report"


def add(dueq: Dueq, job_id: str, *trigger: str) -> None:
    result = dueq("jobs", "add", "--func", FUNC, "--id", job_id, *trigger)
    assert result.exit_code == 0, result.stderr
    assert f"job {job_id} added" in result.stdout


def one_line_error(result: Any, code: int) -> str:
    """The command failed with ``code`` and said why in one line on stderr."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def test_add_with_each_trigger_kind_and_list_them(
    dueq: Dueq, dueq_json: Callable[..., Any]
) -> None:
    add(dueq, "cron", "--cron", "*/5 * * * *")
    add(dueq, "seconds", "--cron", "*/10 * * * * *")
    add(dueq, "every", "--interval", "1h30m")
    add(dueq, "once", "--at", "2026-12-01T09:00", "--timezone", "Europe/Berlin")
    jobs = {job["id"]: job for job in dueq_json("jobs", "list")}
    assert set(jobs) == {"cron", "seconds", "every", "once"}
    assert jobs["cron"]["trigger"]["minute"] == "*/5"
    assert jobs["seconds"]["trigger"]["second"] == "*/10"
    assert (jobs["every"]["trigger"]["hours"], jobs["every"]["trigger"]["minutes"]) == (1, 30)
    assert jobs["once"]["next_run_time"] == "2026-12-01T08:00:00+00:00"  # 09:00 in Berlin
    table = dueq("jobs", "list").stdout
    assert "4 job(s)" in table
    assert "every" in table


def test_add_passes_arguments_and_options_through(
    dueq_json: Callable[..., Any], dueq: Dueq
) -> None:
    result = dueq(
        "jobs", "add", "--func", FUNC, "--id", "r", "--name", "Report", "--queue", "reports",
        "--interval", "30s", "--args", '[1, "a"]', "--kwargs", '{"n": 2}',
        "--misfire-grace-time", "5m", "--max-instances", "3", "--no-coalesce",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    job = dueq_json("jobs", "show", "r")
    assert job["name"] == "Report"
    assert job["queue"] == "reports"
    assert (job["args"], job["kwargs"]) == ([1, "a"], {"n": 2})
    assert job["misfire_grace_time"] == 300
    assert (job["max_instances"], job["coalesce"]) == (3, False)
    assert "misfire grace  300s" in dueq("jobs", "show", "r").stdout


def test_modify_pause_resume_run_now_and_remove(dueq: Dueq, dueq_json: Callable[..., Any]) -> None:
    add(dueq, "j", "--interval", "1h")
    assert dueq("jobs", "modify", "j", "--name", "renamed", "--max-instances", "2").exit_code == 0
    assert dueq("jobs", "modify", "j", "--cron", "0 6 * * *").exit_code == 0
    job = dueq_json("jobs", "show", "j")
    assert (job["name"], job["max_instances"], job["trigger"]["type"]) == ("renamed", 2, "cron")

    assert "paused" in dueq("jobs", "pause", "j").stdout
    assert dueq_json("jobs", "show", "j")["paused"] is True
    assert dueq("jobs", "resume", "j").exit_code == 0
    assert dueq_json("jobs", "show", "j")["paused"] is False

    before = datetime.now(UTC)
    assert "will run now" in dueq("jobs", "run-now", "j").stdout
    next_run = datetime.fromisoformat(dueq_json("jobs", "show", "j")["next_run_time"])
    assert before <= next_run <= datetime.now(UTC)

    assert dueq("jobs", "remove", "j").stdout.strip() == "job j removed"
    assert dueq_json("jobs", "list") == []


def test_add_with_paused_and_replace_existing(dueq: Dueq, dueq_json: Callable[..., Any]) -> None:
    add(dueq, "p", "--interval", "1m", "--paused")
    assert dueq_json("jobs", "show", "p")["paused"] is True
    error = one_line_error(dueq("jobs", "add", "--func", FUNC, "--id", "p", "--interval", "2m"), 1)
    assert error == "error: a job with id 'p' exists already"
    add(dueq, "p", "--interval", "2m", "--replace-existing")
    assert dueq_json("jobs", "show", "p")["trigger"]["minutes"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "61 * * * *"], "invalid minute '61'"),
        (["--cron", "* * *"], "expected 5 fields"),
        (["--cron", "hourly"], "not crontab text"),
        (["--interval", "5x"], "is not a duration"),
        (["--at", "next tuesday"], "ISO 8601"),
        (["--interval", "5m", "--at", "2026-01-01T00:00"], "not --interval and --at"),
        ([], "give a trigger"),
        (["--interval", "5m", "--args", "[1,"], "is not JSON"),
        (["--interval", "5m", "--kwargs", "[1]"], "not a JSON object"),
        (["--interval", "5m", "--queue", "bad queue!"], "queue"),
        (["--interval", "5m", "--timezone", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_input_to_add_is_a_usage_error_in_one_line(
    dueq: Dueq, args: list[str], message: str
) -> None:
    result = dueq("jobs", "add", "--func", FUNC, "--id", "x", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_function_reference_is_a_usage_error(dueq: Dueq) -> None:
    error = one_line_error(dueq("jobs", "add", "--func", "not a ref", "--interval", "1m"), 2)
    assert "invalid function reference" in error


@pytest.mark.parametrize(
    "verb",
    [["show"], ["pause"], ["resume"], ["remove"], ["run-now"], ["modify", "--name", "n"]],
)
def test_an_unknown_job_id_is_a_failure_in_one_line(dueq: Dueq, verb: list[str]) -> None:
    error = one_line_error(dueq("jobs", verb[0], "nope", *verb[1:]), 1)
    assert error == "error: no job with id 'nope'"


def test_modify_without_changes_is_a_usage_error(dueq: Dueq) -> None:
    add(dueq, "j", "--interval", "1h")
    result = dueq("jobs", "modify", "j")
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_an_unreachable_database_is_named_without_its_password(dueq: Dueq) -> None:
    url = "postgresql+psycopg://dueq:s3cret-pw@127.0.0.1:1/dueq"
    error = one_line_error(dueq("jobs", "list", "--database-url", url), 1)
    assert "postgresql+psycopg://dueq:***@127.0.0.1:1/dueq" in error
    assert "s3cret-pw" not in error


@pytest.fixture
def running_scheduler(cli_env: dict[str, str | None]) -> Iterator[BackgroundScheduler]:
    """A scheduler service on the CLI's database and broker that sleeps long between plans.

    Its lease renewals (every third of the lease) and plans are a minute apart, so only a
    wakeup makes it publish within seconds.
    """
    scheduler = BackgroundScheduler(
        database_url=cli_env["DUEQ_DATABASE_URL"],
        broker_url=cli_env["DUEQ_BROKER_URL"],
        prefix=cli_env["DUEQ_PREFIX"],
        queue_type="classic",
        max_sleep_seconds=60,
        lease_seconds=180,
    )
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


def test_run_now_wakes_the_running_scheduler_which_publishes_at_once(
    dueq: Dueq, running_scheduler: BackgroundScheduler
) -> None:
    add(dueq, "hourly", "--interval", "1h")
    submitted = threading.Event()

    def on_submitted(event: SchedulerEvent) -> None:
        if getattr(event, "job_id", None) == "hourly":
            submitted.set()

    running_scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED)
    assert not submitted.is_set()
    start = datetime.now(UTC)
    assert dueq("jobs", "run-now", "hourly").exit_code == 0
    # Far sooner than the scheduler's 60 s sleep: the CLI's wakeup reached it.
    assert submitted.wait(10), "the run was not published after run-now"
    assert datetime.now(UTC) - start < timedelta(seconds=10)
