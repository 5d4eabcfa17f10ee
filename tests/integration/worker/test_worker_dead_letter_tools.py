"""``dueq dead list|show|replay|purge`` against the real RabbitMQ and a running worker.

The dead letters here are made the way production makes them: a worker dead-letters what
it cannot run (with ``x-dueq-reason``), and ``dead_letter()`` parks a valid run exactly as
the worker would.  Replay must send a run back with its ``run_id``, so a run that had
already executed is dropped by the fleet-wide dedupe instead of running twice.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
import zlib
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from dueq.cli import main
from dueq.producer.deadletters import DeadLetters
from dueq.shared.broker import IncomingMessage, dead_letter
from dueq.shared.protocol import RunRequest, encode
from dueq.shared.topology import Topology
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until


@pytest.fixture
def probe(rabbitmq_url: str, topology: Topology) -> Iterator[BrokerProbe]:
    """Like the worker suite's probe, but leaves the dead-letter queue alone."""
    events_probe = BrokerProbe(rabbitmq_url, topology, collect_dead=False)
    yield events_probe
    events_probe.close()


def _dead(rabbitmq_url: str, topology: Topology) -> DeadLetters:
    return DeadLetters(rabbitmq_url, topology)


def _park(probe: BrokerProbe, run: RunRequest, reason: str) -> None:
    """Dead-letter ``run`` exactly as a worker does (reason and source queue headers)."""
    message = probe.run_message(run)
    incoming = IncomingMessage(
        body=message.body,
        delivery_tag=0,
        redelivered=False,
        routing_key=message.routing_key,
        exchange=message.exchange,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        type=None,
        content_type=message.content_type,
        headers={},
        delivery_count=None,
    )
    queue = probe.topology.run_queue(run.queue)
    dead_letter(probe.publisher, probe.topology, incoming, reason=reason, source_queue=queue)


def _cli(rabbitmq_url: str, topology: Topology, *args: str) -> Result:
    options = ["--broker-url", rabbitmq_url, "--prefix", topology.prefix]
    return CliRunner().invoke(main, ["dead", *args, *options], catch_exceptions=False)


def _dead_depth(probe: BrokerProbe) -> int:
    return probe.conn.queue_depth(probe.topology.dead_letter_queue)


def _settles_at(probe: BrokerProbe, depth: int) -> bool:
    """True once the dead queue holds ``depth`` ready messages.

    A quorum queue applies a requeue through its Raft log, after the channel that
    requeued has closed: for a moment a message put back is neither ready nor gone.
    """
    wait_until(lambda: _dead_depth(probe) == depth, f"{depth} dead letters ready", timeout=15)
    return True


def test_list_shows_each_dead_letter_with_its_reason_and_leaves_the_queue_unchanged(
    rabbitmq_url: str, probe: BrokerProbe, start_worker: WorkerFactory, topology: Topology
) -> None:
    start_worker()
    probe.publish_raw(b'{"protocol": 1, "run_id": ', message_id="bad-json")
    unknown = make_run("os:system", args=["true"])
    probe.publish(unknown)
    wait_until(lambda: _dead_depth(probe) == 2, "2 dead letters", timeout=15)

    listed = json.loads(_cli(rabbitmq_url, topology, "list", "--json").output)
    again = _dead(rabbitmq_url, topology).list()

    assert [d["key"] for d in listed] == ["bad-json", unknown.run_id]
    assert "Invalid JSON" in listed[0]["reason"]
    assert "os:system" in listed[1]["reason"]
    assert listed[1]["job_id"] == unknown.job_id
    assert {d["source_queue"] for d in listed} == {topology.run_queue("default")}
    assert [view.key for view in again] == ["bad-json", unknown.run_id]
    assert _settles_at(probe, 2)
    shown = _cli(rabbitmq_url, topology, "show", unknown.run_id)
    assert "os:system" in shown.output
    assert unknown.job_id in shown.output


def test_replay_runs_a_parked_run_once_and_drops_a_run_that_had_already_executed(
    rabbitmq_url: str,
    probe: BrokerProbe,
    start_worker: WorkerFactory,
    topology: Topology,
    pg_schema_url: str,
) -> None:
    # One slot: the replayed runs are handled one after the other, in queue order.
    start_worker(database_url=pg_schema_url, concurrency=1)
    executed = make_run(f"{JOBS}:add", args=[1, 2])
    probe.publish(executed)
    probe.wait_event(executed.run_id, "job_executed")
    parked = make_run(f"{JOBS}:add", args=[3, 4])
    _park(probe, executed, "consumer timeout after it ran")
    _park(probe, parked, "parked before it ran")

    result = _cli(rabbitmq_url, topology, "replay", "--all")

    assert "replayed 2" in result.output
    probe.wait_event(parked.run_id, "job_executed")
    sentinel = make_run(f"{JOBS}:add", args=[5, 6])
    probe.publish(sentinel)
    probe.wait_event(sentinel.run_id, "job_executed")
    assert len(probe.starts(executed.run_id)) == 1
    assert len(probe.of_run(executed.run_id, "job_executed")) == 1
    assert len(probe.of_run(parked.run_id, "job_executed")) == 1
    assert _settles_at(probe, 0)
    assert probe.depth() == 0


def test_replay_of_one_key_leaves_the_others_dead(
    rabbitmq_url: str, probe: BrokerProbe, topology: Topology
) -> None:
    first, second = make_run(f"{JOBS}:noop"), make_run(f"{JOBS}:noop")
    _park(probe, first, "one")
    _park(probe, second, "two")

    result = _dead(rabbitmq_url, topology).replay([second.run_id])

    assert result.replayed == [second.run_id]
    assert _settles_at(probe, 1)
    assert [v.key for v in _dead(rabbitmq_url, topology).list()] == [first.run_id]
    assert probe.depth() == 1  # the replayed run waits in its run queue, body unchanged


def test_a_dead_letter_naming_a_foreign_queue_is_kept_not_replayed(
    rabbitmq_url: str, probe: BrokerProbe, topology: Topology
) -> None:
    run = make_run(f"{JOBS}:noop")
    message = probe.run_message(run)
    probe.publisher.publish(
        type(message)(
            body=encode(run),
            exchange=topology.dead_letter_exchange,
            routing_key="default",
            message_id=run.run_id,
            headers={"x-dueq-reason": "hostile", "x-dueq-source-queue": "amq.rabbitmq.log"},
        )
    )

    result = _dead(rabbitmq_url, topology).replay(None)

    assert result.replayed == []
    assert [key for key, _ in result.skipped] == [run.run_id]
    assert _settles_at(probe, 1)


def test_purge_asks_first_then_empties_the_dead_letter_queue(
    rabbitmq_url: str, probe: BrokerProbe, topology: Topology
) -> None:
    for _ in range(3):
        _park(probe, make_run(f"{JOBS}:noop", job_id=f"j-{uuid.uuid4().hex[:6]}"), "x")

    options = ["--broker-url", rabbitmq_url, "--prefix", topology.prefix]
    declined = CliRunner().invoke(main, ["dead", "purge", *options], input="n\n")
    assert declined.exit_code != 0
    assert _settles_at(probe, 3)
    purged = _cli(rabbitmq_url, topology, "purge", "--yes")

    assert "purged 3" in purged.output
    assert _dead_depth(probe) == 0  # purged, nothing in flight


def test_a_parked_compressed_body_is_listed_as_sent_never_inflated(
    probe: BrokerProbe, rabbitmq_url: str, topology: Topology
) -> None:
    bomb = zlib.compress(b" " * 52_000_000)  # about 51 kB that kombu would inflate to 52 MB
    message = dataclasses.replace(
        probe.run_message(make_run(f"{JOBS}:add"), bomb),
        exchange=topology.dead_letter_exchange,
        message_id="bomb",
        headers={"compression": "application/x-gzip", "x-dueq-reason": "compressed"},
    )
    probe.publisher.publish(message)
    wait_until(lambda: _dead_depth(probe) == 1, "the bomb to be parked", timeout=10)
    [view] = _dead(rabbitmq_url, topology).list()
    assert (view.key, view.size) == ("bomb", len(bomb))
