"""The gate with run control: coalesced runs are late, skip and allow_all are claimed in the
batch, runs whose overlap policy may wait go to a slot unclaimed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dueq.shared.broker import IncomingMessage
from dueq.shared.protocol import (
    JobMaxInstances,
    JobMissed,
    MissedReason,
    Overlap,
    RunRequest,
    decode_event,
    encode,
    make_run_id,
)
from dueq.shared.topology import Topology
from dueq.worker.admission import Gate
from dueq.worker.checks import Delivery
from dueq.worker.claims import Claimed, ClaimStatus, Duplicate, MemoryClaimStore
from dueq.worker.closer import ClaimCloser
from dueq.worker.leases import RunningRuns
from dueq.worker.outbox import Outbox
from dueq.worker.reporter import Identity, Reporter
from dueq.worker.slots import SlotPool

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def _run(job_id: str, minutes_ago: int = 0, **control: Any) -> RunRequest:
    at = NOW - timedelta(minutes=minutes_ago)
    return RunRequest(
        run_id=make_run_id(job_id, at), job_id=job_id, job_name=job_id, func="m:f",
        scheduled_at=at, published_at=at, epoch=1, **control,
    )  # fmt: skip


def _delivery(run: RunRequest) -> Delivery:
    message = IncomingMessage(
        body=encode(run), delivery_tag=1, redelivered=False, routing_key="default",
        exchange="dueq.runs", message_id=run.run_id, correlation_id=run.run_id,
        reply_to=None, type=None, content_type="application/json", headers={},
        delivery_count=None,
    )  # fmt: skip
    return Delivery(message, 1, run, print)


class Rig:
    """A gate over the in-memory store (inline), with slots that never start."""

    def __init__(self) -> None:
        self.claims, self.running, self.outbox = MemoryClaimStore(), RunningRuns(), Outbox()
        self.slots = SlotPool(2, lambda delivery: None)
        closer = ClaimCloser(claims=self.claims, running=self.running, clock=lambda: NOW)
        reporter = Reporter(
            Identity(worker_id="w", hostname="h", pid=1), Topology(prefix="t"), lambda: NOW
        )
        self.gate = Gate(
            claims=self.claims, reporter=reporter, outbox=self.outbox, slots=self.slots,
            running=self.running, closer=closer, worker_id="w", lease=LEASE,
            clock=lambda: NOW,
        )  # fmt: skip

    def events(self) -> list[Any]:
        return [decode_event(m.body) for o in self.outbox.take() for m in o.messages]


def test_a_coalesced_run_is_reported_missed_with_its_reason_and_never_claimed() -> None:
    rig = Rig()
    late = _run("c", minutes_ago=2, coalesce=True, next_scheduled_at=NOW - timedelta(minutes=1))
    rig.gate.submit([_delivery(late)])
    (event,) = rig.events()
    assert isinstance(event, JobMissed)
    assert event.reason is MissedReason.COALESCED
    assert rig.claims.lookup(late.run_id, NOW) is None
    assert rig.slots.take_pending() == []


def test_skip_and_allow_all_are_claimed_in_the_batch_and_allow_all_past_the_limit() -> None:
    rig = Rig()
    skip = [_run("s", minutes_ago=n) for n in (1, 2)]
    allow = [_run("a", minutes_ago=n, overlap=Overlap.ALLOW_ALL) for n in (1, 2)]
    rig.gate.submit([_delivery(r) for r in (*skip, *allow)])

    started = rig.slots.take_pending()
    assert [d.run.run_id for d in started] == [skip[0].run_id, *(r.run_id for r in allow)]
    assert all(d.claimed == Claimed() for d in started)
    (full,) = rig.events()
    assert isinstance(full, JobMaxInstances)
    assert full.run_id == skip[1].run_id
    assert sorted(rig.running.snapshot()) == sorted(d.run.run_id for d in started)


def test_a_run_whose_policy_may_wait_goes_to_a_slot_unclaimed() -> None:
    rig = Rig()
    waiting = (Overlap.BUFFER_ONE, Overlap.BUFFER_ALL, Overlap.CANCEL_OTHER)
    runs = [_run(f"b-{policy.value}", overlap=policy) for policy in waiting]
    rig.gate.submit([_delivery(r) for r in runs])
    pending = rig.slots.take_pending()
    assert [d.run.run_id for d in pending] == [r.run_id for r in runs]
    assert all(d.claimed is None for d in pending)
    assert all(rig.claims.lookup(r.run_id, NOW) is None for r in runs)
    assert rig.running.snapshot() == []


def test_taking_back_releases_only_the_claims_the_gate_took() -> None:
    rig = Rig()
    claimed, waiting = _run("x"), _run("y", overlap=Overlap.BUFFER_ALL)
    rig.claims.claim(waiting, "w2", NOW, LEASE)  # another copy of it runs elsewhere
    rig.gate.submit([_delivery(claimed), _delivery(waiting)])
    back = rig.gate.take_back()
    assert {d.run.run_id for d in back} == {claimed.run_id, waiting.run_id}
    assert rig.claims.lookup(claimed.run_id, NOW) is None  # released
    assert rig.claims.lookup(waiting.run_id, NOW) == Duplicate(ClaimStatus.RUNNING)
    assert rig.outbox.take() == []  # nothing settled: the broker gives them again
