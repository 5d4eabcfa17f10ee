"""Hostile AMQP envelopes: every property and header an attacker with broker access sets.

Each ``Case`` is one message published with pika (so any property can be set, which
dueq's own adapters never would): a body, the properties, and what must happen to it.
``refused`` cases must be dead-lettered with a reason containing ``reason`` and reported
``job_rejected``; ``runs`` cases carry a valid run and odd but harmless properties or
headers, and must execute exactly once with their events on the events queue.
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pika

from dueq.shared.protocol import encode, make_run_id
from dueq.shared.topology import Topology
from tests.faults.faults_payloads import valid_run
from tests.faults.faults_tap import pika_url

__all__ = ["Case", "HostilePublisher", "envelope_cases", "nested"]

# A zlib body that inflates to 52 MB: kombu used to inflate it before any size check.
_BOMB_INFLATED_BYTES = 52_000_000
# Under RabbitMQ's default frame_max (128 KiB): a content header must fit in one frame.
_BIG_HEADER_CHARS = 100_000


@dataclass(frozen=True)
class Case:
    """One hostile message and the verdict it must get."""

    name: str
    body: bytes
    properties: dict[str, Any] = field(default_factory=dict)
    expect: str = "refused"  # or "runs"
    reason: str = ""  # a part of the dead-letter reason (refused cases)
    run_id: str = ""  # the run that must execute (runs cases)
    message_id: str = field(default_factory=lambda: f"env-{uuid.uuid4().hex}")


def nested(depth: int) -> dict[str, Any]:
    """A header table nested ``depth`` deep."""
    value: dict[str, Any] = {"leaf": 1}
    for level in range(depth):
        value = {f"level{level}": value}
    return value


def _spoiled(**changes: Any) -> bytes:
    values = valid_run(f"env-{uuid.uuid4().hex[:8]}").wire_dict()
    values.update(changes)
    return json.dumps(values).encode()


def _refused() -> list[Case]:
    plain = encode(valid_run(f"env-{uuid.uuid4().hex[:8]}"))
    bomb = zlib.compress(b" " * _BOMB_INFLATED_BYTES)
    t = datetime.now(UTC) + timedelta(hours=1)
    squatter = valid_run("squatter").model_copy(
        update={"run_id": make_run_id("victim", t), "scheduled_at": t}
    )
    return [
        Case("content_encoding idna", plain, {"content_encoding": "idna"}, reason="'idna'"),
        Case("content_encoding gzip", gzip.compress(plain), {"content_encoding": "gzip"},
             reason="'gzip'"),
        Case("zlib bomb with a compression header", bomb,
             {"headers": {"compression": "application/x-gzip"}}, reason="compressed"),
        Case("pickle content type", plain, {"content_type": "application/x-python-serialize"},
             reason="content_type"),
        Case("scheduled_at in year 1 with an offset",
             _spoiled(scheduled_at="0001-01-01T00:00:00+01:00"), reason="out of range"),
        Case("published_at in year 9999 with an offset",
             _spoiled(published_at="9999-12-31T23:59:59-01:00"), reason="out of range"),
        Case("NaN in args", _spoiled(args=[float("nan")]), reason="NaN or Infinity"),
        Case("Infinity in kwargs", _spoiled(kwargs={"x": float("inf")}),
             reason="NaN or Infinity"),
        Case("a run id squatting another job's run", encode(squatter),
             reason="is not the id of job 'squatter'"),
        Case("a Popen subclass in the allowed module",
             _spoiled(func="tests.faults.fault_jobs:SneakyPopen", args=[["touch", "/tmp/x"]]),
             reason="not a plain function"),
        Case("a private helper in the allowed module",
             _spoiled(func="tests.faults.fault_jobs:_connection"), reason="private names"),
        Case("garbage with a 100 kB header", b"\x00\xff garbage",
             {"headers": {"big": "x" * _BIG_HEADER_CHARS}}, reason="Invalid JSON"),
        Case("garbage with 2,000 headers", b"[1,", {"headers": {f"h{n}": n for n in range(2000)}},
             reason="Invalid JSON"),
        Case("garbage with a header nested 40 deep", b"{}", {"headers": nested(40)},
             reason="invalid RunRequest"),
    ]  # fmt: skip


def _runs(events_queue_elsewhere: str) -> list[Case]:
    cases = []
    odd: list[tuple[str, dict[str, Any]]] = [
        ("every other AMQP property set", {
            "priority": 9, "timestamp": 1, "app_id": "evil-app", "cluster_id": "c",
            "expiration": "600000", "delivery_mode": 1, "type": "anything",
            "correlation_id": "not-the-run-id", "content_encoding": "utf-8",
        }),
        ("reply_to naming another queue", {"reply_to": events_queue_elsewhere}),
        ("a spoofed x-dueq-redelivered header", {"headers": {"x-dueq-redelivered": True}}),
        ("a spoofed x-delivery-count of the wrong type",
         {"headers": {"x-delivery-count": "many"}}),
        ("a 100 kB header, 2,000 headers and a table nested 40 deep", {"headers": {
            "big": "x" * _BIG_HEADER_CHARS, **{f"h{n}": n for n in range(2000)},
            "deep": nested(40), "mixed": [1, "a", True, None, b"\x00\xff"],
        }}),
        ("a signature header on a deployment without a key",
         {"headers": {"x-dueq-signature": "00" * 32, "x-dueq-key-id": "nobody"}}),
    ]  # fmt: skip
    for name, properties in odd:
        run = valid_run(f"env-ok-{uuid.uuid4().hex[:8]}")
        cases.append(Case(name, encode(run), properties, expect="runs", run_id=run.run_id))
    return cases


def envelope_cases(topology: Topology) -> list[Case]:
    """Every case, refused and harmless, with fresh ids."""
    return [*_refused(), *_runs(topology.dead_letter_queue)]


class HostilePublisher:
    """Publishes with pika, any property set, with publisher confirms."""

    def __init__(self, broker_url: str) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(pika_url(broker_url)))
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()

    def publish(self, exchange: str, routing_key: str, cases: Sequence[Case]) -> None:
        """Publish each case's body with its properties (message_id = the case's id)."""
        for case in cases:
            properties = {
                "content_type": "application/json",
                "delivery_mode": 2,
                "message_id": case.message_id,
                "correlation_id": case.message_id,
                **case.properties,
            }
            self._channel.basic_publish(
                exchange, routing_key, case.body, pika.BasicProperties(**properties)
            )

    def close(self) -> None:
        self._connection.close()
