"""Deliveries py-amqp cannot decode arrive marked or escaped, not as exceptions."""

from __future__ import annotations

import struct
from datetime import datetime

import amqp.abstract_channel
import amqp.basic_message
import amqp.method_framing
import amqp.serialization
import pytest

from dueq.shared.broker.messages import UNDECODABLE_HEADER
from dueq.shared.broker.undecodable import (
    TolerantMessage,
    _escaped_arguments,
    install,
    lenient_arguments,
)

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
    assert amqp.abstract_channel.loads is lenient_arguments


def _deliver(routing_key: bytes) -> bytes:
    """basic.deliver's arguments: consumer tag, delivery tag, redelivered, exchange, key."""
    tag = (7).to_bytes(8, "big")
    return b"\x03ctg" + tag + b"\x01" + b"\x02ex" + bytes([len(routing_key)]) + routing_key


def test_method_arguments_that_are_not_utf8_are_decoded_with_the_bad_bytes_escaped() -> None:
    with pytest.raises(UnicodeDecodeError):  # what py-amqp itself does with them
        amqp.serialization.loads("sLbss", _deliver(b"rk-\xff"), 0)
    assert lenient_arguments("sLbss", _deliver(b"rk-\xff"), 0) == (
        ["ctg", 7, True, "ex", r"rk-\xff"],
        len(_deliver(b"rk-\xff")),
    )
    # basic.get-ok (Lbssl) and basic.return (Bsss), with bits and numbers of every size.
    get_ok = (9).to_bytes(8, "big") + b"\x00" + b"\x01e" + b"\x02k\xfe" + (3).to_bytes(4, "big")
    assert lenient_arguments("Lbssl", get_ok)[0] == [9, False, "e", r"k\xfe", 3]
    returned = (312).to_bytes(2, "big") + b"\x02no" + b"\x01x" + b"\x01\xff"
    assert lenient_arguments("Bsss", returned)[0] == [312, "no", "x", r"\xff"]


@pytest.mark.parametrize(
    ("spec", "payload"),
    [
        ("sLbss", _deliver("clé".encode())),
        ("Lbssl", (9).to_bytes(8, "big") + b"\x01" + b"\x01e" + b"\x00" + (3).to_bytes(4, "big")),
        ("Bsss", (312).to_bytes(2, "big") + b"\x02no" + b"\x01x" + b"\x01y"),
        ("bbbbsbo", b"\x05" + b"\x03abc" + b"\x01" + b"\x09"),  # bits resume in a new octet
        ("b" * 9, b"\xff\x01"),  # the ninth bit opens a second octet
    ],
)
def test_the_escaping_decoder_reads_what_decodes_as_py_amqp_does(spec: str, payload: bytes) -> None:
    assert _escaped_arguments(spec, payload, 0) == amqp.serialization.loads(spec, payload, 0)


def test_other_undecodable_arguments_keep_py_amqp_error() -> None:
    long_string_not_utf8 = b"\x00\x00\x00\x01\xff"  # no delivery method carries one
    with pytest.raises(UnicodeDecodeError):
        lenient_arguments("S", long_string_not_utf8)
