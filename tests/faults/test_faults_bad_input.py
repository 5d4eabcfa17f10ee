"""Guarantee: bad input is dead-lettered and reported, and the worker carries on.

Hypothesis generates batches of hostile messages (random bytes, truncated JSON, fields of
the wrong type, missing fields or unknown ones inside known fields, huge fields, deep
nesting, functions outside the allowlist such as ``os:system`` or ``builtins:eval``, path
tricks, very long names) and publishes them raw to the run queue of ONE live ``dueq worker``
process, interleaved with valid runs of the fault job. Every bad message must reach the
dead-letter queue with an ``x-dueq-reason`` header and be reported by a ``job_rejected``
event; every valid run must execute; the worker must still be running after all examples.

The worker is shared by every example on purpose (a fresh one per example would not show
that one process survives all of it); examples are few and derandomized for CI.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from dueq.producer.publisher import to_message
from dueq.shared.broker import BrokerConnection, OutgoingMessage
from dueq.shared.protocol import CONTENT_TYPE, encode
from tests.faults.faults_envelopes import Case, HostilePublisher, envelope_cases
from tests.faults.faults_payloads import bad_payloads, one_of_each, valid_run
from tests.faults.faults_procs import Proc
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import Rig
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

REASON_HEADER = "x-dueq-reason"
EXAMPLES = 10
# A valid run after every this many bad messages: the worker must keep executing.
VALID_EVERY = 5


class FuzzTarget:
    """The live worker and the instruments the examples share."""

    def __init__(self, rig: Rig, worker: Proc, events: RabbitTap) -> None:
        self.rig = rig
        self.worker = worker
        self.events = events
        self.connection = BrokerConnection(rig.broker_url, name="faults-fuzz")
        self.connection.connect()
        self.publisher = self.connection.publisher()
        self.bad_sent = 0
        self.valid_sent: list[str] = []

    def send(self, payloads: list[bytes]) -> tuple[list[str], list[str]]:
        """Publish the payloads with valid runs in between; the message and run ids."""
        bad_ids: list[str] = []
        valid_ids: list[str] = []
        messages: list[OutgoingMessage] = []
        for index, body in enumerate(payloads):
            if index % VALID_EVERY == 0:
                run = valid_run(f"fuzz-valid-{uuid.uuid4().hex[:8]}")
                messages.append(to_message(run, self.rig.topology))
                valid_ids.append(run.run_id)
            message_id = f"bad-{uuid.uuid4().hex}"
            messages.append(self._raw(body, message_id))
            bad_ids.append(message_id)
        self.connection.connect()  # again, if the broker dropped it while idle
        self.publisher.publish_many(messages)
        self.bad_sent += len(bad_ids)
        self.valid_sent += valid_ids
        return bad_ids, valid_ids

    def _raw(self, body: bytes, message_id: str) -> OutgoingMessage:
        return OutgoingMessage(
            body=body,
            exchange=self.rig.topology.runs_exchange,
            routing_key="default",
            message_id=message_id,
            correlation_id=message_id,
            reply_to=self.rig.topology.events_queue,
            content_type=CONTENT_TYPE,
            persistent=True,
        )

    def dead_reasons(self) -> dict[str, str]:
        """message id -> x-dueq-reason of every dead letter so far."""
        dead = self.events.messages(self.rig.topology.dead_letter_queue)
        return {m.message_id or "": str(m.headers.get(REASON_HEADER, "")) for m in dead}

    def rejected(self) -> dict[str, str]:
        """message id -> reason of every job_rejected event so far."""
        found = {}
        for message in self.events.messages(self.rig.topology.events_queue):
            event = message.event()
            if event is not None and event.get("event") == "job_rejected":
                found[str(event.get("message_id"))] = str(event.get("reason"))
        return found

    def close(self) -> None:
        self.connection.close()


def _exercise(target: FuzzTarget, payloads: list[bytes]) -> None:
    """Send one batch; wait until every bad message is dead-lettered and reported."""
    bad_ids, valid_ids = target.send(payloads)

    def executed() -> set[str]:
        return {e.run_id for e in target.rig.ledger.executions()}

    wait_until(
        lambda: (
            set(bad_ids) <= set(target.dead_reasons())
            and set(bad_ids) <= set(target.rejected())
            and set(valid_ids) <= executed()
        ),
        "every bad message dead-lettered and reported, every valid run executed",
        timeout=30,
    )
    dead, rejected = target.dead_reasons(), target.rejected()
    for message_id in bad_ids:
        assert dead[message_id].strip(), f"dead letter {message_id} without a reason"
        assert rejected[message_id].strip(), f"job_rejected {message_id} without a reason"
    assert target.worker.alive, target.worker.tail()


@pytest.fixture
def fuzz_target(rig: Rig) -> Iterator[FuzzTarget]:
    """One worker process for every example, and a consumer of its events and dead letters."""
    topology = rig.topology
    events = rig.tap_queues([topology.events_queue, topology.dead_letter_queue])
    worker = rig.worker("worker")
    rig.wait_consuming(worker)
    target = FuzzTarget(rig, worker, events)
    yield target
    target.close()


def _kind(reason: str) -> str:
    """A reason without the quoted input, to list the kinds of refusal seen."""
    if "is not allowed" in reason:
        return "function not allowed: " + reason.rsplit("is not allowed: ", 1)[-1][:40]
    return reason.split(":")[0][:40]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file that appears only if a hostile message ever ran a shell command."""
    return tmp_path / "pwned"


def test_a_live_worker_dead_letters_and_reports_every_bad_message_and_keeps_working(
    fuzz_target: FuzzTarget, marker: Path, figures: Figures
) -> None:
    # One of each kind first, written out, so every kind is sent whatever Hypothesis draws.
    _exercise(fuzz_target, one_of_each(str(marker)))

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(payloads=bad_payloads(str(marker)))
    def example(payloads: list[bytes]) -> None:
        _exercise(fuzz_target, payloads)

    example()
    reasons = sorted({_kind(r) for r in fuzz_target.dead_reasons().values()})
    executions = fuzz_target.rig.ledger.executions()
    print(
        f"{fuzz_target.bad_sent} bad messages: all dead-lettered with a reason and reported "
        f"job_rejected; {len(fuzz_target.valid_sent)} valid runs interleaved: all executed; "
        f"worker alive; reasons seen: {reasons}"
    )
    figures["bad_messages"] = fuzz_target.bad_sent
    figures["dead_lettered_with_reason"] = len(fuzz_target.dead_reasons())
    figures["job_rejected_events"] = len(fuzz_target.rejected())
    figures["valid_runs_executed"] = len(executions)
    assert not marker.exists(), "a hostile message ran a shell command"
    assert fuzz_target.worker.alive
    assert sorted(e.run_id for e in executions) == sorted(fuzz_target.valid_sent)


def test_hostile_properties_and_headers_are_dead_lettered_or_harmless_and_the_worker_lives(
    fuzz_target: FuzzTarget, figures: Figures
) -> None:
    rig = fuzz_target.rig
    cases = envelope_cases(rig.topology)
    refused = [c for c in cases if c.expect == "refused"]
    harmless = [c for c in cases if c.expect == "runs"]
    # The victim of the squatter case: its real run at the squatted time must still run.
    squatted_at = json.loads(next(c for c in refused if "squatting" in c.name).body)
    victim = valid_run("victim").model_copy(
        update={
            "run_id": squatted_at["run_id"],
            "scheduled_at": datetime.fromisoformat(squatted_at["scheduled_at"]),
        }
    )
    publisher = HostilePublisher(rig.broker_url)
    try:
        publisher.publish(rig.topology.runs_exchange, "default", cases)
        publisher.publish(
            rig.topology.runs_exchange,
            "default",
            [Case("the victim", encode(victim), expect="runs", run_id=victim.run_id)],
        )
    finally:
        publisher.close()
    must_run = {c.run_id for c in harmless} | {victim.run_id}

    def executed() -> list[str]:
        return [e.run_id for e in rig.ledger.executions()]

    wait_until(
        lambda: (
            {c.message_id for c in refused} <= set(fuzz_target.dead_reasons())
            and {c.message_id for c in refused} <= set(fuzz_target.rejected())
            and must_run <= set(executed())
        ),
        "every hostile envelope dead-lettered and reported, every harmless one executed",
        timeout=30,
    )
    dead, rejected = fuzz_target.dead_reasons(), fuzz_target.rejected()
    for case in refused:
        assert case.reason in dead[case.message_id], (case.name, dead[case.message_id])
        assert case.reason in rejected[case.message_id], case.name
    assert sorted(r for r in executed() if r in must_run) == sorted(must_run)  # once each
    dead_bodies = [m.body for m in fuzz_target.events.messages(rig.topology.dead_letter_queue)]
    assert all(len(body) < 1024 * 1024 for body in dead_bodies), "an inflated body was parked"
    events = [m.event() or {} for m in fuzz_target.events.messages(rig.topology.events_queue)]
    spoofed = next(c for c in harmless if "x-dueq-redelivered" in c.name)
    ran = [e for e in events if e.get("run_id") == spoofed.run_id and e["event"] == "job_executed"]
    assert [e["redelivered"] for e in ran] == [False]
    assert fuzz_target.worker.alive, fuzz_target.worker.tail()
    figures["hostile_envelopes"] = len(refused)
    figures["harmless_envelopes_executed"] = len(harmless)
    print(
        f"{len(refused)} hostile envelopes dead-lettered with their reason and reported; "
        f"{len(harmless)} odd-but-valid ones and the squatted victim executed once; "
        "worker alive"
    )
