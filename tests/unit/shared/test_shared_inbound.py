"""The inbound gate: every refusal is a ProtocolError with a reason, whatever caused it."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from dueq.shared.broker import IncomingMessage
from dueq.shared.errors import ProtocolError
from dueq.shared.inbound import open_event, open_run
from dueq.shared.protocol import RunRequest, WorkerOnline, encode, make_run_id
from dueq.shared.signing import HANDOVER_TYPE, RUN_TYPE, Signer

KEY = "k" * 40
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(job_id: str = "job") -> RunRequest:
    return RunRequest(
        run_id=make_run_id(job_id, NOW),
        job_id=job_id,
        job_name=job_id,
        func="m:f",
        scheduled_at=NOW,
        published_at=NOW,
        epoch=1,
    )


def message(body: bytes, **extra: Any) -> IncomingMessage:
    fields: dict[str, Any] = {
        "body": body,
        "delivery_tag": 1,
        "redelivered": False,
        "routing_key": "default",
        "exchange": "dueq.runs",
        "message_id": "m",
        "correlation_id": "m",
        "reply_to": None,
        "type": RUN_TYPE,
        "content_type": "application/json",
        "headers": {},
        "delivery_count": None,
    }
    fields.update(extra)
    return IncomingMessage(**fields)


def spoiled(**changes: Any) -> bytes:
    values = run().wire_dict()
    values.update(changes)
    return json.dumps(values).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (spoiled(scheduled_at="0001-01-01T00:00:00+01:00"), "out of range"),
        (spoiled(published_at="9999-12-31T23:59:59-01:00"), "out of range"),
        (spoiled(args=[float("nan")]), "NaN or Infinity"),
        (spoiled(kwargs={"x": float("inf")}), "NaN or Infinity"),
        (spoiled(misfire_grace_time=float("inf")), "finite"),
        (b"[" * 100_000 + b"]" * 100_000, "."),
        (b"\xff\xfe not utf-8", "."),
        (b"x" * (1024 * 1024 + 1), "the limit is"),
        (spoiled(run_id=make_run_id("victim", NOW)), "is not the id of job 'job'"),
    ],
)
def test_hostile_run_bodies_are_protocol_errors_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        open_run(message(body), None)
    assert caught.value.reason.strip()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"content_encoding": "idna"}, "content_encoding 'idna' is refused"),
        ({"content_encoding": "gzip"}, "content_encoding 'gzip' is refused"),
        ({"headers": {"compression": "application/x-gzip"}}, "compressed bodies"),
        ({"content_type": "application/x-python-serialize"}, "content_type .* is refused"),
    ],
)
def test_content_codings_and_compression_are_refused_before_reading(
    extra: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ProtocolError, match=reason):
        open_run(message(encode(run()), **extra), None)


def test_a_compressed_bomb_is_refused_by_its_header_not_inflated() -> None:
    bomb = zlib.compress(b"{" + b" " * 50_000_000 + b"}")
    assert len(bomb) < 100_000
    with pytest.raises(ProtocolError, match="compressed bodies"):
        open_run(message(bomb, headers={"compression": "application/x-gzip"}), None)


def test_utf8_content_encoding_is_the_plain_body() -> None:
    assert open_run(message(encode(run()), content_encoding="utf-8"), None).run == run()


def test_a_signed_run_opens_and_a_handover_is_flagged() -> None:
    signer, body = Signer(KEY), encode(run())
    opened = open_run(message(body, headers=signer.headers(RUN_TYPE, body)), signer)
    assert (opened.run, opened.handover) == (run(), False)
    handed = message(body, type=HANDOVER_TYPE, headers=signer.headers(HANDOVER_TYPE, body))
    assert open_run(handed, signer).handover


@pytest.mark.parametrize(
    ("headers", "kind", "reason"),
    [
        ({}, RUN_TYPE, "unsigned message"),
        ({"x-dueq-signature": "00" * 32}, RUN_TYPE, "unknown key"),
        ({"x-dueq-signature": "é" * 64, "x-dueq-key-id": "x"}, RUN_TYPE, "malformed"),
        ({"x-dueq-signature": ["not", "text"]}, RUN_TYPE, "malformed"),
        # Signed for a handover, sent as a run: the type is part of what is signed.
        ("handover", RUN_TYPE, "bad signature"),
        # A worker's signed event replayed onto the runs exchange.
        ("event", "worker_online", "is not a run"),
    ],
)
def test_unsigned_forged_or_replayed_runs_are_refused(headers: Any, kind: str, reason: str) -> None:
    signer, body = Signer(KEY), encode(run())
    if headers == "handover":
        headers = signer.headers(HANDOVER_TYPE, body)
    elif headers == "event":
        headers = signer.headers("worker_online", body)
    with pytest.raises(ProtocolError, match=reason):
        open_run(message(body, type=kind, headers=headers), signer)


def test_a_run_signed_with_another_key_is_refused_and_an_old_key_still_verifies() -> None:
    body = encode(run())
    old, new = "o" * 40, "n" * 40
    signed_by_old = message(body, headers=Signer(old).headers(RUN_TYPE, body))
    with pytest.raises(ProtocolError, match="unknown key"):
        open_run(signed_by_old, Signer(new))
    assert open_run(signed_by_old, Signer(new, [old])).run == run()


def online(emitted_at: datetime = NOW) -> WorkerOnline:
    return WorkerOnline(
        worker_id="w",
        hostname="h",
        pid=1,
        emitted_at=emitted_at,
        queues=["default"],
        concurrency=1,
        executor="thread",
        version="1",
    )


def test_an_event_at_the_calendar_edge_is_a_protocol_error() -> None:
    values = online().wire_dict()
    values["emitted_at"] = "0001-01-01T00:00:00+01:00"
    with pytest.raises(ProtocolError, match="out of range"):
        open_event(message(json.dumps(values).encode(), type="worker_online"), None)


def test_a_signed_event_must_be_sent_under_its_own_type() -> None:
    signer, body = Signer(KEY), encode(online())
    good = message(body, type="worker_online", headers=signer.headers("worker_online", body))
    assert open_event(good, signer) == online()
    lying = message(body, type="job_executed", headers=signer.headers("job_executed", body))
    with pytest.raises(ProtocolError, match="sent as type 'job_executed'"):
        open_event(lying, signer)
