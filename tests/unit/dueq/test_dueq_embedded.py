"""The embedded mode in-process: app loading, one process running jobs, the event lines."""

from __future__ import annotations

import io
import queue
import threading
import uuid
from datetime import UTC, datetime

import pytest
from rich.console import Console

from dueq.embedded import Embedded, load_app
from dueq.printer import PRINTED_EVENTS, EventPrinter
from dueq.producer import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    RemoteJobError,
    SchedulerEvent,
)
from dueq.shared.errors import ConfigError

APP = "tests.unit.dueq.dueq_test_app"
WHEN = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)


def test_an_app_is_a_module_with_a_schedule_function() -> None:
    app = load_app(APP)
    assert app.module == APP
    assert app.schedule.__name__ == "schedule"
    assert load_app(f"{APP}:schedule").schedule is app.schedule


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz", r"cannot import the app"),
        (f"{APP}:missing", r"no function missing\(scheduler\)"),
        (f"{APP}:NOT_A_FUNCTION", r"no function NOT_A_FUNCTION\(scheduler\)"),
    ],
)
def test_a_bad_app_is_a_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_app(spec)


def test_scheduler_and_worker_run_the_app_in_one_process_and_stop_cleanly(
    sqlite_url: str, memory_broker_url: str
) -> None:
    threads_before = set(threading.enumerate())
    events: queue.Queue[SchedulerEvent] = queue.Queue()
    embedded = Embedded(
        load_app(APP),
        database_url=sqlite_url,
        listener=events.put,
        listener_mask=PRINTED_EVENTS,
        broker_url=memory_broker_url,
        prefix=f"emb{uuid.uuid4().hex[:8]}",
    )
    embedded.start()
    seen: dict[int, JobExecutionEvent] = {}
    try:
        while EVENT_JOB_EXECUTED not in seen or EVENT_JOB_ERROR not in seen:
            event = events.get(timeout=20)
            if isinstance(event, JobExecutionEvent):
                seen.setdefault(event.code, event)
    finally:
        embedded.stop()
    assert seen[EVENT_JOB_EXECUTED].retval == 42
    error = seen[EVENT_JOB_ERROR]
    assert error.exception is not None
    assert error.exception.type_name.endswith("ValueError")
    assert error.traceback is not None
    assert "raise ValueError" in error.traceback
    leaked = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


def printed(event: SchedulerEvent) -> str:
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, width=200, color_system=None), UTC)
    printer(event)
    return out.getvalue()


def execution(code: int, **values: object) -> JobExecutionEvent:
    return JobExecutionEvent(code=code, job_id="report", scheduled_run_time=WHEN, **values)  # type: ignore[arg-type]  # test values


def test_each_run_event_prints_one_line_saying_what_happened() -> None:
    fired = printed(JobSubmissionEvent(code=EVENT_JOB_SUBMITTED, job_id="report",
                                       scheduled_run_times=[WHEN], run_ids=["r"]))  # fmt: skip
    assert "fired" in fired
    assert "run for 12:00:05" in fired
    done = printed(execution(EVENT_JOB_EXECUTED, retval={"rows": 3}, duration_s=0.5))
    assert "executed" in done
    assert "returned {'rows': 3} in 0.500s" in done
    assert "later than its grace time" in printed(execution(EVENT_JOB_MISSED))
    assert "max_instances already running" in printed(execution(EVENT_JOB_MAX_INSTANCES))
    for line in (fired, done):
        assert len(line.strip().splitlines()) == 1


def test_an_error_prints_its_traceback_under_the_line() -> None:
    trace = 'Traceback (most recent call last):\n  File "jobs.py"\nValueError: no customer'
    text = printed(
        execution(
            EVENT_JOB_ERROR,
            exception=RemoteJobError("ValueError", "no customer", trace),
            traceback=trace,
        )
    )
    first, *rest = text.strip().splitlines()
    assert "error" in first
    assert "ValueError: no customer" in first
    assert rest[0] == "Traceback (most recent call last):"


def test_the_summary_counts_what_was_printed() -> None:
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, color_system=None))
    printer(execution(EVENT_JOB_EXECUTED))
    printer(execution(EVENT_JOB_EXECUTED))
    printer(SchedulerEvent(code=1))  # not a run event: ignored
    assert printer.summary() == "0 fired, 2 executed, 0 error, 0 missed, 0 max_instances"
