"""CorkedWriter encodes each publish byte for byte as py-amqp (through kombu) would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amqp.method_framing import frame_writer
from amqp.serialization import dumps
from hypothesis import given, settings
from hypothesis import strategies as st
from kombu.transport.pyamqp import Channel

from dueq.shared.broker.convert import to_transport
from dueq.shared.broker.corked import CorkedWriter
from dueq.shared.broker.messages import OutgoingMessage

_BASIC_PUBLISH = (60, 40)


@dataclass
class _Transport:
    written: list[bytes] = field(default_factory=list)

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))


@dataclass
class _Connection:
    frame_max: int
    transport: _Transport = field(default_factory=_Transport)
    bytes_sent: int = 0  # py-amqp's writer counts its writes here


class _KombuChannel:
    """What ``to_transport`` needs of a kombu channel: its ``prepare_message``."""

    def prepare_message(self, *args: Any) -> Any:
        # kombu's own method; it reads nothing of its channel.
        return Channel.prepare_message(self, *args)  # type: ignore[arg-type,no-untyped-call]  # duck-typed


def py_amqp_bytes(message: OutgoingMessage, channel_id: int, frame_max: int) -> bytes:
    """The frames py-amqp's own writer sends for ``message`` (the reference)."""
    connection = _Connection(frame_max)
    write = frame_writer(connection, connection.transport)
    arguments = (0, message.exchange, message.routing_key, message.mandatory, False)
    content = to_transport(_KombuChannel(), message)
    write(1, channel_id, _BASIC_PUBLISH, dumps("Bssbb", arguments), content)
    return b"".join(connection.transport.written)


def corked_bytes(messages: list[OutgoingMessage], channel_id: int, frame_max: int) -> bytes:
    connection = _Connection(frame_max)
    writer = CorkedWriter(connection)
    for message in messages:
        writer.publish(channel_id, message)
    writer.flush()
    return b"".join(connection.transport.written)


_text = st.text(max_size=40)
_name = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
_messages = st.builds(
    OutgoingMessage,
    body=st.one_of(st.binary(max_size=300), st.binary(min_size=5000, max_size=9000)),
    exchange=_name,
    routing_key=_name,
    message_id=st.none() | _name,
    correlation_id=st.none() | _name,
    reply_to=st.none() | _name,
    type=st.none() | _name,
    headers=st.dictionaries(_text, _text | st.integers(0, 2**31), max_size=3),
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
    persistent=st.booleans(),
    expiration_ms=st.none() | st.integers(0, 10**9),
    mandatory=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(_messages, min_size=1, max_size=4),
    channel_id=st.integers(1, 65535),
    frame_max=st.sampled_from([4096, 131072]),
)
def test_corked_frames_are_the_bytes_py_amqp_writes(
    messages: list[OutgoingMessage], channel_id: int, frame_max: int
) -> None:
    expected = b"".join(py_amqp_bytes(m, channel_id, frame_max) for m in messages)
    assert corked_bytes(messages, channel_id, frame_max) == expected


def test_a_run_message_with_signature_headers_is_encoded_as_py_amqp_does() -> None:
    run_id = "0f8fad5b-d9cb-569f-a165-70867728950e"
    message = OutgoingMessage(
        body=b'{"protocol":1,"run_id":"' + run_id.encode() + b'"}',
        exchange="dueq.runs",
        routing_key="default",
        message_id=run_id,
        correlation_id=run_id,
        reply_to="dueq.events",
        type="dueq.run",
        headers={"x-dueq-signature": "ab" * 32, "x-dueq-key-id": "0123456789abcdef"},
    )
    assert corked_bytes([message, message], 7, 131072) == 2 * py_amqp_bytes(message, 7, 131072)


def test_a_body_larger_than_a_frame_is_split_as_py_amqp_splits_it() -> None:
    message = OutgoingMessage(body=bytes(range(256)) * 70, exchange="x", routing_key="q")
    assert corked_bytes([message], 1, 4096) == py_amqp_bytes(message, 1, 4096)
