"""Every run outcome is one log line on the worker, in text or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dueq.shared.logs import configure_logging, log_settings
from dueq.worker import Worker, WorkerSettings
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run

PREFIX = "runlogs"


@pytest.fixture
def worker(memory_broker_url: str) -> Iterator[BrokerProbe]:
    settings = WorkerSettings(broker_url=memory_broker_url, prefix=PREFIX, imports=(JOBS,))
    probe = BrokerProbe(memory_broker_url, settings.topology())
    running = Worker(settings)
    running.start()
    yield probe
    running.stop()
    probe.close()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger configured as a dueq process would, writing into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _run_three_outcomes(probe: BrokerProbe) -> tuple[str, str, str]:
    ok = make_run(f"{JOBS}:add", args=[2, 3])
    failing = make_run(f"{JOBS}:fail", args=["order 42 has no customer"])
    late = make_run(
        f"{JOBS}:noop",
        scheduled_at=datetime.now(UTC) - timedelta(minutes=5),
        misfire_grace_time=1,
    )
    probe.publish(ok, failing, late)
    probe.wait_event(ok.run_id, "job_executed")
    probe.wait_event(failing.run_id, "job_error")
    probe.wait_event(late.run_id, "job_missed")
    return ok.run_id, failing.run_id, late.run_id


def test_each_outcome_is_one_line_at_the_default_level(
    worker: BrokerProbe, log_stream: io.StringIO
) -> None:
    configure_logging(*log_settings({}), stream=log_stream)
    ok, failing, late = _run_three_outcomes(worker)
    text = log_stream.getvalue()
    assert f"INFO    dueq.worker.runs: run {ok} of " in text
    assert " succeeded in 0.0" in text
    assert "s: 5\n" in text
    assert f"ERROR   dueq.worker.runs: run {failing} of " in text
    assert "failed in " in text
    assert "ValueError: order 42 has no customer" in text
    assert f"run {late} of " in text
    assert "missed: 300." in text


def test_json_format_gives_one_object_per_line_with_the_run_fields(
    worker: BrokerProbe, log_stream: io.StringIO
) -> None:
    configure_logging(*log_settings({"DUEQ_LOG_FORMAT": "json"}), stream=log_stream)
    ok, failing, _ = _run_three_outcomes(worker)
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    by_run = {r.get("run_id"): r for r in records if r["logger"] == "dueq.worker.runs"}
    assert by_run[ok]["level"] == "INFO"
    assert by_run[ok]["outcome"] == "executed"
    assert by_run[failing]["level"] == "ERROR"
    assert by_run[failing]["outcome"] == "error"
    assert "Traceback (most recent call last)" in by_run[failing]["message"]
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)


def test_an_unknown_log_format_names_the_variable() -> None:
    with pytest.raises(ValueError, match="DUEQ_LOG_FORMAT 'xml'"):
        log_settings({"DUEQ_LOG_FORMAT": "xml"})


def test_the_log_level_comes_from_the_environment(log_stream: io.StringIO) -> None:
    configure_logging(*log_settings({"DUEQ_LOG_LEVEL": "warning"}), stream=log_stream)
    logging.getLogger("dueq.worker.runs").info("hidden")
    logging.getLogger("dueq.worker.runs").warning("shown")
    assert log_stream.getvalue().count("\n") == 1
