"""End to end across languages: dueq's scheduler publishes a run, the Node.js consumer runs
it, and the outcome lands in the scheduler's run history.

The kit stays off the events queue here: the scheduler's own events consumer must be the
one that turns the Node consumer's events into history.
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
from tests.conformance.conformance_consumers import CONSUMERS, QUEUE
from tests.conformance.conformance_kit import SIGNING_KEY, new_prefix
from tests.conformance.conformance_process import ConsumerProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# Seconds from add_job to the outcome in history: scheduler start, lease, publish, a Node
# start-up and the event's way back, on a busy two-core machine.
END_TO_END_TIMEOUT = 30.0


@pytest.fixture
def prefix(rabbitmq_url: str) -> Iterator[str]:
    """A broker prefix for this test, everything under it deleted afterwards."""
    name = new_prefix()
    yield name
    with BrokerConnection(rabbitmq_url, name="conformance-cleanup") as conn:
        conn.delete_topology(Topology(prefix=name), [QUEUE])


@pytest.fixture
def node_consumer(
    node_modules_installed: None, rabbitmq_url: str, prefix: str, tmp_path: Path
) -> Iterator[ConsumerProcess]:
    """The Node.js example consumer serving QUEUE under ``prefix``."""
    spec = next(spec for spec in CONSUMERS if spec.name == "node")
    command = spec.command(url=rabbitmq_url, prefix=prefix, queue=QUEUE)
    process = ConsumerProcess(spec, command, tmp_path / "node.log")
    yield process
    assert process.terminate() == 0


def test_run_published_by_the_scheduler_is_executed_by_node_and_recorded(
    node_consumer: ConsumerProcess, rabbitmq_url: str, pg_schema_url: str, prefix: str
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
            kwargs={"to": "node"},
            id=f"polyglot-{uuid.uuid4().hex[:8]}",
            queue=QUEUE,
        )
        engine = sa.create_engine(pg_schema_url)
        try:
            row = wait_until(
                node_consumer.checking(lambda: _finished_run(engine, job.id)),
                f"finished run of job {job.id} in dueq_runs",
                timeout=END_TO_END_TIMEOUT,
                interval=0.05,
                describe=node_consumer.log_tail,
            )
        finally:
            engine.dispose()
    finally:
        scheduler.shutdown()

    assert row["status"] == "executed", row
    assert row["retval"] == {"args": ["from", "python"], "kwargs": {"to": "node"}}
    assert str(row["worker_id"]).startswith("node-")
    assert row["finished_at"] is not None


def _finished_run(engine: sa.Engine, job_id: str) -> dict[str, Any] | None:
    query = sa.select(runs).where(runs.c.job_id == job_id, runs.c.finished_at.is_not(None))
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None
