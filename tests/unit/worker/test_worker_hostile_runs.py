"""Jobs and messages that used to stop a worker: each is now one run's outcome or refusal.

An embedded worker on kombu's memory transport (the broker's behaviour is not the point
here; tests/faults covers a real ``dueq worker`` against RabbitMQ).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from dueq.shared.broker import OutgoingMessage
from dueq.shared.protocol import JobError, encode
from dueq.shared.signing import RUN_TYPE, SIGNATURE_HEADER, Signer
from dueq.worker import Worker, WorkerSettings
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
