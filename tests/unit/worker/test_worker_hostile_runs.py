"""Jobs and messages that used to stop a worker: each is now one run's outcome or refusal.

An embedded worker on kombu's memory transport (the broker's behaviour is not the point
here; tests/faults covers a real ``dueq worker`` against RabbitMQ).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from dueq.shared.broker import OutgoingMessage
from dueq.shared.protocol import Event, JobError, JobExecuted, JobRejected, RunRequest, encode
from dueq.shared.signing import RUN_TYPE, SIGNATURE_HEADER, Signer
from dueq.worker import Worker, WorkerSettings
from dueq.worker.reporter import Reporter
from dueq.worker.runner import Outcome
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run

KEY = "a-test-signing-key-of-forty-characters!!"


@pytest.fixture
def probe(memory_broker_url: str) -> Iterator[BrokerProbe]:
    settings = WorkerSettings(broker_url=memory_broker_url, prefix="hostile")
    made = BrokerProbe(memory_broker_url, settings.topology())
    yield made
    made.close()


def start_worker(url: str, **options: object) -> Worker:
    worker = Worker(
        WorkerSettings(broker_url=url, prefix="hostile", imports=(JOBS,), **options)  # type: ignore[arg-type]
    )
    worker.start()
    return worker


def test_system_exit_and_keyboard_interrupt_are_run_errors_and_the_slots_live_on(
    probe: BrokerProbe, memory_broker_url: str
) -> None:
    worker = start_worker(memory_broker_url, concurrency=2)
    try:
        killers = [
            make_run(f"{JOBS}:exits", args=[2]),
            make_run(f"{JOBS}:exits", args=[0]),
            make_run(f"{JOBS}:interrupts"),
        ]
        probe.publish(*killers)
        errors = [probe.wait_event(run.run_id, "job_error") for run in killers]
        assert [e.exception.type for e in errors if isinstance(e, JobError)] == [
            "SystemExit",
            "SystemExit",
            "KeyboardInterrupt",
        ]
        after = [make_run(f"{JOBS}:add", args=[1, n]) for n in range(4)]
        probe.publish(*after)
        for run in after:
            probe.wait_event(run.run_id, "job_executed")
    finally:
        worker.stop()


def signed(probe: BrokerProbe, body: bytes, signer: Signer, run_id: str) -> OutgoingMessage:
    message = probe.run_message(make_run(f"{JOBS}:add"), body)
    return dataclasses.replace(
        message,
        message_id=run_id,
        correlation_id=run_id,
        type=RUN_TYPE,
        headers=signer.headers(RUN_TYPE, body),
    )


def test_with_a_key_only_signed_runs_run_and_every_event_is_signed(
    probe: BrokerProbe, memory_broker_url: str
) -> None:
    signer = Signer(KEY)
    worker = start_worker(memory_broker_url, signing_key=KEY)
    try:
        good, unsigned, forged = (make_run(f"{JOBS}:add", args=[n, n]) for n in range(3))
        forger = Signer("a-different-key-that-nobody-was-given-xx")
        probe.publisher.publish_many(
            [
                signed(probe, encode(good), signer, good.run_id),
                probe.run_message(unsigned),
                signed(probe, encode(forged), forger, forged.run_id),
            ]
        )
        probe.wait_event(good.run_id, "job_executed")
        probe.wait_event(unsigned.run_id, "job_rejected")
        probe.wait_event(forged.run_id, "job_rejected")
        probe.wait_for(lambda _: len(probe.dead) >= 2, 5, "two dead letters")
        reasons = sorted(str(m.headers.get("x-dueq-reason")) for m in probe.dead)
        assert "unsigned message" in reasons[1]
        assert "unknown key" in reasons[0]
        for message in probe.event_messages:
            assert message.type is not None
            signer.verify(message.type, message.body, message.headers)
            assert SIGNATURE_HEADER in message.headers
        assert not probe.starts(unsigned.run_id)
    finally:
        worker.stop()


def test_an_outcome_that_cannot_be_sent_as_it_is_is_sent_without_its_details(
    probe: BrokerProbe, memory_broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the runner does not foresee: an outcome event that raises while it is built.
    real = Reporter.finished

    def finished(self: Reporter, run: RunRequest, redelivered: bool, outcome: Outcome,
                 **options: Any) -> Event:  # fmt: skip
        if outcome.retval == 3:
            raise RuntimeError("cannot serialize")
        return real(self, run, redelivered, outcome, **options)

    monkeypatch.setattr(Reporter, "finished", finished)
    worker = start_worker(memory_broker_url)
    try:
        poisoned, fine = make_run(f"{JOBS}:add", args=[1, 2]), make_run(f"{JOBS}:add", args=[2, 2])
        probe.publish(poisoned)
        executed = probe.wait_event(poisoned.run_id, "job_executed")
        assert isinstance(executed, JobExecuted)
        assert executed.retval_is_repr is True
        assert executed.retval == "its outcome could not be sent: RuntimeError('cannot serialize')"
        probe.publish(fine)
        assert probe.wait_event(fine.run_id, "job_executed").retval == 4  # type: ignore[union-attr]
    finally:
        worker.stop()


def test_a_message_whose_ids_utf8_cannot_encode_is_rejected_and_the_worker_lives_on(
    probe: BrokerProbe, memory_broker_url: str
) -> None:
    # py-amqp reads a short string with surrogatepass, so a property can hold a lone
    # surrogate. A bad body with such ids stopped the broker thread: its job_rejected could
    # not be built.
    odd = b"id-\xed\xa0\x80".decode("utf-8", "surrogatepass")
    worker = start_worker(memory_broker_url)
    try:
        bad, good, after = (make_run(f"{JOBS}:add", args=[1, n]) for n in range(3))
        for message in (probe.run_message(bad, b"not json"), probe.run_message(good)):
            probe.publisher.publish(
                dataclasses.replace(message, message_id=odd, correlation_id=odd)
            )
        rejected = probe.wait_event(r"id-\ud800", "job_rejected")
        assert isinstance(rejected, JobRejected)
        assert rejected.message_id == r"id-\ud800"
        assert len(probe.wait_dead(1)) == 1
        assert probe.wait_event(good.run_id, "job_executed").retval == 2  # type: ignore[union-attr]
        probe.publish(after)
        probe.wait_event(after.run_id, "job_executed")
    finally:
        worker.stop()


def test_a_rejection_that_cannot_be_reported_is_dead_lettered_all_the_same(
    probe: BrokerProbe, memory_broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreportable(*_args: Any) -> Event:
        raise RuntimeError("cannot build")

    monkeypatch.setattr(Reporter, "rejected", unreportable)
    worker = start_worker(memory_broker_url)
    try:
        probe.publish_raw(b"not json", message_id="bad-1")
        (dead,) = probe.wait_dead(1)
        assert dead.message_id == "bad-1"
        after = make_run(f"{JOBS}:add", args=[1, 1])
        probe.publish(after)
        probe.wait_event(after.run_id, "job_executed")
    finally:
        worker.stop()
