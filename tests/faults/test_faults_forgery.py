"""Guarantee: only the scheduler's runs run and only workers' outcomes count (signed mode).

A real ``dueq scheduler`` and ``dueq worker`` share a signing key (``DUEQ_SIGNING_KEY``,
one setting, as compose sets it).  Before a job's run-time T, an attacker with broker
access publishes: forged outcomes for that run (unsigned, signed with another key, signed
under another type), a RunRequest squatting the run's id (unsigned, and signed by a key
holder), an unsigned run of an allowed job, events the decoder used to choke on (a
calendar-edge ``emitted_at``, ``content_encoding=idna``, a compression header, garbage),
a correctly signed outcome of a job that does not exist, and junk on the control
exchange.  Each bad message must be dead-lettered with its reason; the scheduler's events
consumer must never restart; at T the real run executes once and the history shows the
worker's outcome, not a forgery, and no ghost run.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from dueq.producer.backend import open_backend
from dueq.producer.history import RunHistory, RunStatus
from dueq.shared.protocol import JobExecuted, WorkerOnline, encode, make_run_id
from dueq.shared.signing import RUN_TYPE, Signer
from dueq.shared.triggers import DateTrigger
from tests.faults.faults_envelopes import Case, HostilePublisher
from tests.faults.faults_payloads import valid_run
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import JobSpec, Rig, soon
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

LEAD_S = 6.0


def _executed(job_id: str, at: datetime, **changes: Any) -> JobExecuted:
    values: dict[str, Any] = {
        "worker_id": "evil-worker", "hostname": "evil", "pid": 666, "emitted_at": at,
        "run_id": make_run_id(job_id, at), "job_id": job_id, "scheduled_at": at,
        "started_at": at, "finished_at": at, "duration_s": 0.0, "lateness_s": 0.0,
        "retval": "FORGED RESULT",
    }  # fmt: skip
    values.update(changes)
    return JobExecuted(**values)


def _signed(signer: Signer, name: str, body: bytes, kind: str, reason: str, **props: Any) -> Case:
    headers = {**signer.headers(kind, body), **props.pop("headers", {})}
    return Case(name, body, {"type": kind, "headers": headers, **props}, reason=reason)


def _hostile_events(key: Signer, other: Signer, at: datetime) -> list[Case]:
    forged = encode(_executed("victim", at))
    online = WorkerOnline(
        worker_id="w", hostname="h", pid=1, emitted_at=at, queues=["default"],
        concurrency=1, executor="thread", version="1",
    ).wire_dict()  # fmt: skip
    online["emitted_at"] = "0001-01-01T00:00:00+01:00"
    return [
        Case("a forged, unsigned outcome", forged, {"type": "job_executed"},
             reason="unsigned message"),
        _signed(other, "an outcome signed with another key", forged, "job_executed",
                "unknown key"),
        _signed(key, "an outcome signed under another type", forged, "job_started",
                "sent as type 'job_started'", ),
        _signed(key, "worker_online at the calendar edge", json.dumps(online).encode(),
                "worker_online", "out of range"),
        _signed(key, "signed garbage", b"\x00garbage", "job_executed", "Invalid JSON"),
        _signed(key, "content_encoding idna", forged, "job_executed", "'idna'",
                content_encoding="idna"),
        _signed(key, "a compression header", forged, "job_executed", "compressed",
                headers={"compression": "application/x-gzip"}),
    ]  # fmt: skip


def _hostile_runs(key: Signer, at: datetime) -> list[Case]:
    squatter = valid_run("squatter").model_copy(
        update={"run_id": make_run_id("victim", at), "scheduled_at": at}
    )
    unsigned = valid_run("unsigned")
    return [
        Case("a squatting run, unsigned", encode(squatter), {"type": RUN_TYPE},
             reason="unsigned message"),
        _signed(key, "a squatting run signed by a key holder", encode(squatter), RUN_TYPE,
                "is not the id of job 'squatter'"),
        Case("an unsigned run of an allowed job", encode(unsigned), {"type": RUN_TYPE},
             reason="unsigned message", run_id=unsigned.run_id),
    ]  # fmt: skip


def test_forged_runs_and_outcomes_change_nothing_and_the_real_run_counts(
    rig: Rig, figures: Figures
) -> None:
    key = secrets.token_urlsafe(32)
    signer, other = Signer(key), Signer(secrets.token_urlsafe(32))
    env = {"DUEQ_SIGNING_KEY": key}
    topology = rig.topology
    dead = rig.tap_queues([topology.dead_letter_queue])
    scheduler = rig.scheduler("scheduler", env=env)
    worker = rig.worker("worker", env=env)
    scheduler.wait_for_log("consuming worker events", timeout=30)
    rig.wait_consuming(worker)
    at = soon(LEAD_S)  # the processes are up: the forgeries go out well before T
    rig.add_jobs([JobSpec("victim", DateTrigger(at))])

    events, runs = _hostile_events(signer, other, at), _hostile_runs(signer, at)
    ghost = _executed("ghost", at, worker_id="worker")
    ghost_case = _signed(signer, "a signed outcome of no job", encode(ghost), "job_executed", "")
    publisher = HostilePublisher(rig.broker_url)
    try:
        publisher.publish("", topology.events_queue, [*events, ghost_case])
        publisher.publish(topology.runs_exchange, "default", runs)
        junk = [
            Case("control junk", b"\xff" * 1000, {"headers": {"big": "x" * 50_000}}),
            Case("control json", b'{"control": "shutdown"}'),
        ]
        publisher.publish(topology.control_exchange, "", junk)
    finally:
        publisher.close()
    assert datetime.now(UTC) < at, "the hostile messages must arrive before the run is due"

    refused = [*events, *runs]
    victim = make_run_id("victim", at)
    backend = open_backend(rig.database_url)
    try:
        _check(rig, backend.history, dead, refused, victim)
    finally:
        backend.close()
    assert scheduler.alive, scheduler.tail()
    assert worker.alive, worker.tail()
    assert "starting it again" not in scheduler.output(), "the events consumer restarted"
    figures["forgeries_dead_lettered"] = len(refused)
    print(
        f"{len(refused)} forged or hostile messages dead-lettered with their reason; the real "
        "run executed once and its outcome is the worker's; no ghost run; both processes up"
    )


def _check(
    rig: Rig, history: RunHistory, dead: RabbitTap, refused: list[Case], victim: str
) -> None:
    topology = rig.topology

    def reasons() -> dict[str, str]:
        found = dead.messages(topology.dead_letter_queue)
        return {m.message_id or "": str(m.headers.get("x-dueq-reason", "")) for m in found}

    wait_until(
        lambda: (
            {c.message_id for c in refused} <= set(reasons())
            and (record := history.get_run(victim)) is not None
            and record.status is RunStatus.EXECUTED
        ),
        "every forgery dead-lettered and the real run recorded",
        timeout=LEAD_S + 30,
    )
    for case in refused:
        assert case.reason in reasons()[case.message_id], (case.name, reasons()[case.message_id])
    record = history.get_run(victim)
    assert record is not None
    assert (record.worker_id, record.retval) != ("evil-worker", "FORGED RESULT")
    assert record.worker_id == "worker"
    executions = [e.run_id for e in rig.ledger.executions()]
    assert executions == [victim], "only the scheduler's run ran, once"
    assert history.get_runs(job_id="ghost") == []
    assert history.get_runs(job_id="squatter") == []
