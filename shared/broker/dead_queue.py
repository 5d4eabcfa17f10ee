"""Reading, replaying and purging ``<prefix>.dead``: the operator's side of dead-lettering.

AMQP has no "peek": a message is read with ``basic.get`` and stays unacknowledged until it
is acked (gone) or rejected with requeue (back in the queue).  ``browse`` reads up to a
limit and requeues everything it read; ``replay`` publishes the chosen messages back to the
queue they were dead-lettered from (body and ids unchanged, so a run keeps its ``run_id``
and a worker drops it if it already ran), waits for the broker's confirms, and only then
acks them; everything else goes back.  A crash in between leaves a message both replayed
and still dead: replaying it again is harmless for the same reason.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from kombu.message import Message as KombuMessage

from dueq.shared.broker.convert import read_delivery
from dueq.shared.broker.dead_letter import DEAD_AT_HEADER, REASON_HEADER, SOURCE_QUEUE_HEADER
from dueq.shared.broker.link import Link
from dueq.shared.broker.messages import IncomingMessage, OutgoingMessage
from dueq.shared.broker.publisher import Publisher
from dueq.shared.topology import Topology

__all__ = ["DeadLetter", "DeadLetterQueue", "ReplayResult"]

# Headers that describe a death, not the message: a replayed message starts clean.
_DEATH_HEADERS = frozenset(
    {
        REASON_HEADER,
        SOURCE_QUEUE_HEADER,
        DEAD_AT_HEADER,
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-delivery-count",
    }
)
# Characters of the body's SHA-256 naming a message that has no message_id.
_KEY_CHARS = 16
# A quorum queue applies a requeue through its Raft log, shortly after the requeuing
# channel has closed.  A call waits (polling) this long at most for the messages it put
# back to be ready again, so that a listing right after another one sees them all.
_SETTLE_S = 2.0
_SETTLE_POLL_S = 0.01
# Bytes of each body a listing keeps: a dead letter may be a 100 MB hostile payload, and
# a listing of thousands of them must not hold them all.
BROWSE_BODY_BYTES = 64 * 1024
# Messages republished (and then acked) at once by a replay: bounds the bodies held.
_REPLAY_BATCH = 100


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """One message in the dead-letter queue, as an operator needs to see it.

    ``key`` names it in ``show``/``replay``: its ``message_id`` (a run's ``run_id``) or,
    for a message without one, ``sha256:`` and the start of its body's hash.  ``body`` is
    the first ``BROWSE_BODY_BYTES`` in a listing (``size`` is the whole), all of it in a
    replay.
    """

    key: str
    position: int
    size: int
    message_id: str | None
    reason: str | None
    source_queue: str | None
    dead_at: str | None
    routing_key: str
    content_type: str | None
    correlation_id: str | None
    reply_to: str | None
    type: str | None
    headers: Mapping[str, Any] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """What ``replay`` did: keys sent back, and keys left dead with the reason why."""

    replayed: list[str]
    skipped: list[tuple[str, str]]


@dataclass
class _Reading:
    """One pass over the queue: its channel, what was taken, and what was acked."""

    channel: Any
    taken: list[tuple[Any, DeadLetter]] = field(default_factory=list)
    acked: set[Any] = field(default_factory=set)


class DeadLetterQueue:
    """``<prefix>.dead`` of one topology, on a connection's current link.

    Use from the connection's thread, like every broker object.  The queue must exist
    (``declare_topology`` makes it); otherwise calls raise ``TopologyError``-like channel
    errors as ``BrokerUnavailable``.
    """

    def __init__(
        self, current_link: Callable[[], Link], publisher: Publisher, topology: Topology
    ) -> None:
        self._current_link = current_link
        self._publisher = publisher
        self._topology = topology

    @property
    def name(self) -> str:
        """The AMQP queue read here."""
        return self._topology.dead_letter_queue

    def browse(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, oldest first; the queue is left as it was."""
        with self._reading() as reading:
            for _ in range(limit):
                if _get(reading.channel, self.name, reading.taken, BROWSE_BODY_BYTES) is None:
                    break
            return [dead for _, dead in reading.taken]

    def replay(self, keys: Collection[str] | None, *, limit: int = 100_000) -> ReplayResult:
        """Send dead letters back to their source queue; ``keys=None`` means all of them.

        Reads at most ``limit`` messages.  A message whose source queue is unknown, outside
        this prefix, or the dead queue itself stays dead (listed in ``skipped``).  Raises
        ``PublishError`` if the broker refuses the republish (e.g. the source queue was
        deleted): nothing is acked then, and every message stays dead.
        """
        result = ReplayResult(replayed=[], skipped=[])
        with self._reading() as reading:
            channel, taken = reading.channel, reading.taken
            chosen: list[tuple[Any, DeadLetter, str]] = []
            while len(taken) < limit:
                got = _get(channel, self.name, taken, keep=None)
                if got is None:
                    break
                tag, dead = got
                taken[-1] = (tag, replace(dead, body=dead.body[:BROWSE_BODY_BYTES]))
                if keys is not None and dead.key not in keys:
                    continue
                target, why = self._target(dead)
                if target is None:
                    result.skipped.append((dead.key, why))
                    continue
                chosen.append((tag, dead, target))
                if len(chosen) >= _REPLAY_BATCH:
                    self._send_back(reading, chosen, result)
            self._send_back(reading, chosen, result)
        return result

    def _send_back(
        self, reading: _Reading, chosen: list[tuple[Any, DeadLetter, str]], result: ReplayResult
    ) -> None:
        """Republish ``chosen`` (confirmed), then ack them; empties ``chosen``."""
        self._publisher.publish_many([_replayed(dead, target) for _, dead, target in chosen])
        for tag, dead, _ in chosen:
            reading.channel.basic_ack(tag)
            reading.acked.add(tag)
            result.replayed.append(dead.key)
        chosen.clear()

    def purge(self) -> int:
        """Delete every message in the dead-letter queue; return how many there were."""
        link = self._current_link()
        channel = link.channel()
        with link.guard("purge dead letters"):
            try:
                return int(channel.queue_purge(queue=self.name) or 0)
            finally:
                channel.close()

    @contextmanager
    def _reading(self) -> Iterator[_Reading]:
        """A channel and the deliveries taken on it; those not acked go back at the end."""
        link = self._current_link()
        reading = _Reading(channel=link.channel())
        channel = reading.channel
        with link.guard("read dead letters"):
            before = self._ready(channel)
            try:
                yield reading
            finally:
                if link.alive:
                    # Explicit for memory://, which drops unacked deliveries on close.  In
                    # reading order: a quorum queue hands returned messages out first, in
                    # the order they came back, so the queue keeps its order.
                    for tag, _ in reading.taken:
                        if tag not in reading.acked:
                            channel.basic_reject(tag, requeue=True)
                    self._settle(channel, before - len(reading.acked))
                    channel.close()

    def _ready(self, channel: Any) -> int:
        return int(channel.queue_declare(queue=self.name, passive=True).message_count)

    def _settle(self, channel: Any, expected: int) -> None:
        """Wait (bounded) until ``expected`` messages are ready again after a requeue."""
        deadline = time.monotonic() + _SETTLE_S
        while self._ready(channel) < expected and time.monotonic() < deadline:
            time.sleep(_SETTLE_POLL_S)

    def _target(self, dead: DeadLetter) -> tuple[str | None, str]:
        source = dead.source_queue
        if not source:
            return None, "no source queue recorded"
        if source == self.name or not source.startswith(f"{self._topology.prefix}."):
            return None, f"source queue {source!r} is not one of prefix {self._topology.prefix!r}"
        return source, ""


def _get(
    channel: Any, queue: str, taken: list[tuple[Any, DeadLetter]], keep: int | None
) -> tuple[Any, DeadLetter] | None:
    """Take the next message of ``queue`` unacknowledged, appending it to ``taken``.

    Keeps the first ``keep`` bytes of the body (None: all of it).
    """
    channel.auto_decode = False  # py-amqp would decode bodies by their content_encoding
    raw = channel.basic_get(queue=queue, no_ack=False)
    if raw is None:
        return None
    # The bytes as parked, never inflated: kombu's message_to_python would apply a hostile
    # "compression" header (a 51 kB zlib body becomes 52 MB) before ``keep`` cuts it.
    transport_tag, message = read_delivery(channel, raw, len(taken))
    dead = _dead_letter(message, len(taken) + 1, keep)
    got = (transport_tag, dead)
    taken.append(got)
    return got


def _dead_letter(message: IncomingMessage, position: int, keep: int | None) -> DeadLetter:
    headers = dict(message.headers)
    return DeadLetter(
        key=message.message_id or "sha256:" + hashlib.sha256(message.body).hexdigest()[:_KEY_CHARS],
        position=position,
        size=len(message.body),
        message_id=message.message_id,
        reason=_text(headers.get(REASON_HEADER)) or _native_reason(headers),
        source_queue=_text(headers.get(SOURCE_QUEUE_HEADER)) or _native_queue(headers),
        dead_at=_text(headers.get(DEAD_AT_HEADER)),
        routing_key=message.routing_key,
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        type=message.type,
        headers=headers,
        body=message.body if keep is None else message.body[:keep],
    )


def _replayed(dead: DeadLetter, target: str) -> OutgoingMessage:
    """The original message again, addressed straight to ``target`` (default exchange)."""
    headers = {k: v for k, v in dead.headers.items() if k not in _DEATH_HEADERS}
    return OutgoingMessage(
        body=dead.body,
        exchange="",
        routing_key=target,
        message_id=dead.message_id,
        correlation_id=dead.correlation_id,
        reply_to=dead.reply_to,
        type=dead.type,
        headers=headers,
        content_type=dead.content_type or "application/octet-stream",
        persistent=True,
    )


def is_kombu_message(raw: Any) -> bool:
    """True for a ``kombu.Message`` (memory://), False for py-amqp's raw message."""
    return isinstance(raw, KombuMessage)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def _first_death(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    """RabbitMQ's own record of the most recent death (``x-death`` is newest first)."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]
    return {}


def _native_reason(headers: Mapping[str, Any]) -> str | None:
    """The reason RabbitMQ gives (``rejected``, ``delivery_limit``, ``expired``)."""
    reason = _text(_first_death(headers).get("reason"))
    return f"broker: {reason}" if reason else None


def _native_queue(headers: Mapping[str, Any]) -> str | None:
    return _text(_first_death(headers).get("queue"))
