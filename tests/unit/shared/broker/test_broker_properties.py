"""py-amqp messages whose properties cannot be decoded arrive marked, not as exceptions."""

from __future__ import annotations

import struct
from datetime import datetime

import amqp.basic_message
import amqp.method_framing
import pytest

from dueq.shared.broker.messages import UNDECODABLE_HEADER
from dueq.shared.broker.properties import TolerantMessage, install

_BASIC_CLASS = 60
# A header timestamp of 1970-01-01T00:00:01 as py-amqp writes it.
_ONE_SECOND = b"T" + struct.pack(">Q", 1)


def _content_header(properties: bytes, body_size: int = 2) -> bytes:
    """A content-header frame's payload: class, weight, body size, then the properties."""
    return struct.pack(">HHQ", _BASIC_CLASS, 0, body_size) + properties


def _properties(**values: object) -> bytes:
    return bytes(amqp.basic_message.Message(body=b"{}", **values)._serialize_properties())


def test_properties_that_decode_are_read_as_py_amqp_reads_them() -> None:
    frame = _content_header(_properties(message_id="m-1", application_headers={"h": 1}))
    ours, theirs = TolerantMessage(), amqp.basic_message.Message()
    ours.inbound_header(frame)
    theirs.inbound_header(frame)
    assert ours.properties == theirs.properties
    assert ours.properties["message_id"] == "m-1"
    assert (ours.body_size, ours.ready) == (2, False)


@pytest.mark.parametrize(
    ("spoil", "error"),
    [
        # A message_id that is not UTF-8.
        (lambda raw: raw.replace(b"m-1", b"m-\xff"), "UnicodeDecodeError"),
        # A header timestamp past the year 9999 ('T', then 8 bytes of seconds since 1970).
        (lambda raw: raw.replace(_ONE_SECOND, b"T\x7f" + b"\xff" * 7), "OSError"),
    ],
    ids=["not-utf8", "timestamp-past-9999"],
)  # fmt: skip
def test_properties_that_do_not_decode_leave_only_a_header_saying_why(
    spoil: object, error: str
) -> None:
    raw = _properties(message_id="m-1", application_headers={"t": datetime(1970, 1, 1, 0, 0, 1)})
    spoiled = spoil(raw)  # type: ignore[operator]
    assert spoiled != raw
    with pytest.raises(Exception):  # what py-amqp itself does with it  # noqa: B017, PT011
        amqp.basic_message.Message().inbound_header(_content_header(spoiled))
    message = TolerantMessage()
    message.inbound_header(_content_header(spoiled))
    (why,) = message.properties["application_headers"].values()
    assert list(message.properties) == ["application_headers"]
    assert list(message.properties["application_headers"]) == [UNDECODABLE_HEADER]
    assert why.startswith(f"{error}: ")
    assert (message.body_size, message.ready) == (2, False)  # its body still follows


def test_install_makes_py_amqp_build_tolerant_messages() -> None:
    install()
    install()  # idempotent
    assert amqp.method_framing.Message is TolerantMessage
