"""An outcome reported while no scheduler runs waits in the events queue and is recorded
by the next scheduler that starts: the run does not stay ``submitted``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dueq.producer.history import RunRecord, RunStatus
from dueq.producer.scheduler import BackgroundScheduler
from dueq.shared.protocol import JobExecuted, encode
from dueq.shared.topology import Topology
from tests.integration.producer.conftest import MakeScheduler
from tests.integration.producer.producer_support import DEADLINE_S
from tests.integration.producer.test_producer_events import WORKER, send
from tests.support.waiting import wait_until


def _run_of(scheduler: BackgroundScheduler, job_id: str) -> RunRecord | None:
    runs = scheduler.history.get_runs(job_id, 10)
    return runs[0] if runs else None


def test_an_outcome_reported_after_the_last_scheduler_stopped_is_recorded_on_return(
    pg_schema_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    first = make_scheduler(pg_schema_url)
    first.add_job("tests.jobs:anything", "date", run_date=datetime.now(UTC), id="once")
    first.start()
    run = wait_until(lambda: _run_of(first, "once"), "the run published", timeout=DEADLINE_S)
    first.shutdown()  # the last scheduler is gone; no events consumer is left

    timing: dict[str, Any] = {"started_at": run.scheduled_at, "finished_at": run.scheduled_at,
                              "duration_s": 0.01, "lateness_s": 0.0}  # fmt: skip
    executed = JobExecuted(
        **WORKER, run_id=run.run_id, job_id="once", scheduled_at=run.scheduled_at,
        **timing, retval=5,
    )  # fmt: skip
    send(rabbitmq_url, topology, [encode(executed)])  # a worker finishing meanwhile
    second = make_scheduler(pg_schema_url)
    assert _run_of(second, "once") == run  # still submitted while nobody consumes events
    second.start()

    def recorded() -> bool:
        current = _run_of(second, "once")
        return current is not None and current.status is RunStatus.EXECUTED

    wait_until(recorded, "the outcome recorded by the returning scheduler", timeout=DEADLINE_S)
    assert run.status is RunStatus.SUBMITTED
