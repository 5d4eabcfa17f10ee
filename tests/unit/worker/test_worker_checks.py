"""The per-message checks, each on its own: parse, dedupe, misfire, claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dueq.shared.broker import IncomingMessage
from dueq.shared.protocol import RunRequest, encode, make_run_id
from dueq.worker import checks
from dueq.worker.claims import Claimed, ClaimStatus, Duplicate, Full, MemoryClaimStore
from dueq.worker.executors import AsyncioExecutor, ThreadExecutor
from dueq.worker.registry import Registry

JOBS = "tests.jobs_for_tests.worker_jobs"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_run(
    func: str = f"{JOBS}:add",
    *,
    grace: float | None = None,
    at: datetime = NOW,
    max_instances: int = 1,
) -> RunRequest:
    return RunRequest(
        run_id=make_run_id("job", at),
        job_id="job",
        job_name="job",
        func=func,
        scheduled_at=at,
        published_at=at,
        misfire_grace_time=grace,
        max_instances=max_instances,
        epoch=3,
    )


def message(body: bytes, **extra: object) -> IncomingMessage:
    fields: dict[str, object] = {
        "body": body,
        "delivery_tag": 1,
        "redelivered": False,
        "routing_key": "default",
        "exchange": "dueq.runs",
        "message_id": "m",
        "correlation_id": "m",
        "reply_to": None,
        "type": None,
        "content_type": "application/json",
        "headers": {},
        "delivery_count": None,
    }
    fields.update(extra)
    return IncomingMessage(**fields)  # type: ignore[arg-type]


@pytest.fixture
def registry() -> Registry:
    loaded = Registry([JOBS])
    loaded.load()
    return loaded


def test_parse_returns_the_run_and_its_function(registry: Registry) -> None:
    run = make_run()
    delivery = checks.parse(message(encode(run)), registry, ThreadExecutor(), generation=4)
    assert (delivery.run, delivery.generation, delivery.handover) == (run, 4, False)
    assert delivery.func.__name__ == "add"


def test_parse_rejects_garbage_with_the_protocol_reason(registry: Registry) -> None:
    with pytest.raises(checks.Rejected, match="Invalid JSON") as caught:
        checks.parse(message(b"not json"), registry, ThreadExecutor())
    assert caught.value.run is None


def test_parse_rejects_a_disallowed_function_keeping_the_run_for_the_report(
    registry: Registry,
) -> None:
    run = make_run("os:system")
    with pytest.raises(checks.Rejected, match="not allowed") as caught:
        checks.parse(message(encode(run)), registry, ThreadExecutor())
    assert caught.value.run == run


def test_async_jobs_are_refused_by_threads_and_accepted_by_asyncio(registry: Registry) -> None:
    body = encode(make_run(f"{JOBS}:async_add"))
    with pytest.raises(checks.Rejected, match="--executor asyncio"):
        checks.parse(message(body), registry, ThreadExecutor())
    checks.parse(message(body), registry, AsyncioExecutor())


@pytest.mark.parametrize(
    ("grace", "late_by", "missed"),
    [(None, 86_400, False), (10, 10, False), (10, 10.001, True), (0, 0.5, True)],
)
def test_misfire_counts_only_lateness_beyond_the_grace_time(
    grace: float | None, late_by: float, missed: bool
) -> None:
    lateness = checks.misfire(make_run(grace=grace), NOW + timedelta(seconds=late_by))
    assert (lateness is not None) is missed
    if missed:
        assert lateness == pytest.approx(late_by)


def test_dedupe_and_claim_follow_the_claim_store() -> None:
    store, run = MemoryClaimStore(), make_run()
    lease = timedelta(seconds=30)
    assert checks.dedupe(run, store, NOW) is None
    assert checks.claim(run, store, "w", NOW, lease) == Claimed()
    assert checks.dedupe(run, store, NOW) == Duplicate(ClaimStatus.RUNNING)
    later = make_run(at=NOW + timedelta(minutes=1))
    assert checks.claim(later, store, "w", NOW, lease) == Full(1)


@pytest.mark.parametrize(
    ("extra", "handover", "redelivered"),
    [
        ({}, False, False),
        ({"redelivered": True}, False, True),
        ({}, True, True),
        ({"delivery_count": 1}, False, True),
        # The old header is anybody's to set: it has no effect.
        ({"headers": {"x-dueq-redelivered": True}}, False, False),
    ],
)
def test_a_delivery_knows_whether_it_is_a_redelivery(
    extra: dict[str, object], handover: bool, redelivered: bool
) -> None:
    delivery = checks.Delivery(message(b"{}", **extra), 1, make_run(), print, handover=handover)
    assert delivery.redelivered is redelivered


def test_only_a_handover_typed_run_counts_as_a_handover(registry: Registry) -> None:
    body = encode(make_run())
    spoofed = message(body, headers={"x-dueq-redelivered": True})
    assert not checks.parse(spoofed, registry, ThreadExecutor()).redelivered
    handed = message(body, type="dueq.run.handover")
    assert checks.parse(handed, registry, ThreadExecutor()).redelivered


def test_parse_refuses_a_run_whose_id_is_not_bound_to_its_job_and_time(
    registry: Registry,
) -> None:
    squatter = make_run().model_copy(update={"run_id": make_run_id("victim", NOW)})
    with pytest.raises(checks.Rejected, match="is not the id of job 'job'"):
        checks.parse(message(encode(squatter)), registry, ThreadExecutor())
