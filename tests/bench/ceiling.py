"""The broker's own ceiling, measured with py-amqp directly (the library under kombu).

Persistent ~200-byte messages to a durable queue of the type dueq uses: published without
confirms, with up to 1,000 confirms in flight (pipelined), waiting for each confirm; and
consumed + acknowledged one by one with prefetch 100.  dueq cannot beat these numbers in
Python on this machine; its targets are fractions of them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import amqp

from tests.bench.services import amqp_connection, unique_name

__all__ = ["MESSAGE_BYTES", "measure_ceiling"]

# The size of a typical RunRequest without arguments is ~400 bytes; the reference
# numbers are for 200-byte messages, so the ceiling is measured the same way.
MESSAGE_BYTES = 200
# Unconfirmed publishes allowed at once in the pipelined mode (what shared.broker uses).
IN_FLIGHT = 1000
# Consumer prefetch for the consume+ack ceiling.
PREFETCH = 100


class _Confirms:
    """Counts broker acks by delivery tag (acks may be 'multiple' and out of order)."""

    def __init__(self, total: int) -> None:
        self._acked = bytearray(total + 1)
        self._low = 1  # every tag below this is acked
        self.count = 0
        self.nacked = 0

    def on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            for t in range(self._low, tag + 1):
                self._mark(t)
        else:
            self._mark(tag)
        while self._low < len(self._acked) and self._acked[self._low]:
            self._low += 1

    def on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked += 1
        self.on_ack(tag, multiple)

    def _mark(self, tag: int) -> None:
        if not self._acked[tag]:
            self._acked[tag] = 1
            self.count += 1


def _declare(channel: Any, queue: str, queue_type: str) -> None:
    channel.queue_declare(
        queue=queue, durable=True, auto_delete=False, arguments={"x-queue-type": queue_type}
    )


def _message() -> amqp.Message:
    return amqp.Message(b"x" * MESSAGE_BYTES, delivery_mode=2, content_type="application/json")


def publish_rate(url: str, queue: str, count: int, mode: str) -> float:
    """Messages/s published to ``queue``; ``mode`` is "none", "pipelined" or "each"."""
    with contextlib.closing(amqp_connection(url)) as conn:
        channel = conn.channel()
        confirms = _Confirms(count)
        if mode != "none":
            channel.confirm_select()
            channel.events["basic_ack"].add(confirms.on_ack)
            channel.events["basic_nack"].add(confirms.on_nack)
        message = _message()
        started = time.perf_counter()
        for sent in range(1, count + 1):
            channel.basic_publish(message, exchange="", routing_key=queue)
            limit = 0 if mode == "each" else IN_FLIGHT - 1
            while mode != "none" and sent - confirms.count > limit:
                conn.drain_events(timeout=10)
        while mode != "none" and confirms.count < count:
            conn.drain_events(timeout=10)
        if mode == "none":
            channel.queue_declare(queue=queue, passive=True)  # one round trip: all arrived
        elapsed = time.perf_counter() - started
        channel.close()
    return count / elapsed


def consume_rate(url: str, queue: str, count: int) -> float:
    """Messages/s consumed and acked one by one from ``queue`` (holding ``count``)."""
    with contextlib.closing(amqp_connection(url)) as conn:
        channel = conn.channel()
        channel.basic_qos(prefetch_size=0, prefetch_count=PREFETCH, a_global=False)
        received = 0

        def on_message(message: amqp.Message) -> None:
            nonlocal received
            channel.basic_ack(message.delivery_tag)
            received += 1

        started = time.perf_counter()
        channel.basic_consume(queue=queue, callback=on_message, no_ack=False)
        while received < count:
            conn.drain_events(timeout=10)
        elapsed = time.perf_counter() - started
        channel.close()
    return count / elapsed


def measure_ceiling(url: str, *, count: int, each_count: int, queue_type: str) -> dict[str, Any]:
    """Every ceiling number for one queue type, on a queue of its own (deleted after)."""
    queue = unique_name(f"ceiling-{queue_type}")
    with contextlib.closing(amqp_connection(url)) as conn:
        _declare(conn.channel(), queue, queue_type)
    try:
        result = {
            "queue_type": queue_type,
            "messages": count,
            "publish_no_confirms_per_s": publish_rate(url, queue, count, "none"),
            "publish_pipelined_per_s": publish_rate(url, queue, count, "pipelined"),
            "publish_each_confirm_per_s": publish_rate(url, queue, each_count, "each"),
        }
        # The queue now holds 2 * count + each_count messages; consume all of them.
        total = 2 * count + each_count
        result["consume_ack_per_s"] = consume_rate(url, queue, total)
        return {k: round(v) if isinstance(v, float) else v for k, v in result.items()}
    finally:
        with contextlib.closing(amqp_connection(url)) as conn:
            conn.channel().queue_delete(queue=queue)
