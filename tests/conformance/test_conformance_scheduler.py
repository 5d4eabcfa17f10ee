"""End to end across languages: dueq's scheduler publishes a run, the consumer under test
(each of ``CONSUMERS``: the built-in ones, or the one given by DUEQ_CONFORMANCE_CONSUMER)
runs it, and the outcome lands in the scheduler's run history.

The kit stays off the events queue here: the scheduler's own events consumer must be the
one that turns the consumer's events into history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dueq.producer.scheduler import BackgroundScheduler
from dueq.shared.broker import BrokerConnection
from dueq.shared.tables import runs
from dueq.shared.topology import Topology
from tests.conformance.conformance_consumers import QUEUE
from tests.conformance.conformance_kit import SIGNING_KEY, new_prefix
from tests.conformance.conformance_process import ConsumerProcess, ConsumerSpec
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# Seconds from add_job to the outcome in history: scheduler start, lease, publish, the
# consumer's start-up and the event's way back, on a busy two-core machine.
END_TO_END_TIMEOUT = 30.0


@pytest.fixture
def prefix(rabbitmq_url: str) -> Iterator[str]:
    """A broker prefix for this test, everything under it deleted afterwards."""
    name = new_prefix()
    yield name
    with BrokerConnection(rabbitmq_url, name="conformance-cleanup") as conn:
        conn.delete_topology(Topology(prefix=name), [QUEUE])


@pytest.fixture
def consumer(
    consumer_spec: ConsumerSpec, rabbitmq_url: str, prefix: str, tmp_path: Path
) -> Iterator[ConsumerProcess]:
    """The consumer under test serving QUEUE under ``prefix``."""
    command = consumer_spec.command(url=rabbitmq_url, prefix=prefix, queue=QUEUE)
    process = ConsumerProcess(consumer_spec, command, tmp_path / f"{consumer_spec.name}.log")
    yield process
    assert process.terminate() == 0


def test_run_published_by_the_scheduler_is_executed_by_the_consumer_and_recorded(
    consumer: ConsumerProcess, rabbitmq_url: str, pg_schema_url: str, prefix: str
) -> None:
    scheduler = BackgroundScheduler(
        broker_url=rabbitmq_url,
        database_url=pg_schema_url,
        prefix=prefix,
        signing_key=SIGNING_KEY,  # the node consumer verifies runs and signs its events
    )
    scheduler.start()
    try:
        job = scheduler.add_job(
            "conformance.echo",
            "date",
            run_date=datetime.now(UTC),
            args=["from", "python"],
            kwargs={"to": consumer.spec.name},
            id=f"polyglot-{uuid.uuid4().hex[:8]}",
            queue=QUEUE,
        )
        engine = sa.create_engine(pg_schema_url)
        try:
            row = wait_until(
                consumer.checking(lambda: _finished_run(engine, job.id)),
                f"finished run of job {job.id} in dueq_runs",
                timeout=END_TO_END_TIMEOUT,
                interval=0.05,
                describe=consumer.log_tail,
            )
        finally:
            engine.dispose()
    finally:
        scheduler.shutdown()

    assert row["status"] == "executed", row
    assert row["retval"] == {"args": ["from", "python"], "kwargs": {"to": consumer.spec.name}}
    assert row["finished_at"] is not None


def _finished_run(engine: sa.Engine, job_id: str) -> dict[str, Any] | None:
    query = sa.select(runs).where(runs.c.job_id == job_id, runs.c.finished_at.is_not(None))
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None
