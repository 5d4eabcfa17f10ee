"""Message values refuse nonsense early; reasons become one short header line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dueq.shared.broker import MAX_REASON_CHARS, BrokerConnection, OutgoingMessage
from dueq.shared.broker.convert import delivery_count, from_delivery
from dueq.shared.broker.dead_letter import one_line
from dueq.shared.errors import ConfigError


def test_a_str_body_is_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        OutgoingMessage(body="text", exchange="", routing_key="q")  # type: ignore[arg-type]  # the point of the test


def test_a_negative_expiration_is_refused() -> None:
    with pytest.raises(ValueError, match="expiration_ms"):
        OutgoingMessage(body=b"", exchange="", routing_key="q", expiration_ms=-1)


def test_an_overlong_routing_key_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        OutgoingMessage(body=b"", exchange="", routing_key="q" * 256)


def test_reasons_become_one_line_of_at_most_1000_chars() -> None:
    assert one_line("boom\n  at line 3\r\n\tfailed") == "boom at line 3 failed"
    assert len(one_line("x" * 5000)) == MAX_REASON_CHARS


def test_delivery_count_is_read_from_the_quorum_header_only_when_an_int() -> None:
    assert delivery_count({"x-delivery-count": 2}) == 2
    assert delivery_count({"x-delivery-count": "2"}) is None
    assert delivery_count({"x-delivery-count": True}) is None
    assert delivery_count({}) is None


def test_a_body_decoded_by_the_transport_is_given_back_as_bytes() -> None:
    # py-amqp decodes bodies to str when another client set content_encoding.
    kombu_message = SimpleNamespace(
        body="héllo",
        content_encoding="utf-8",
        content_type="text/plain",
        headers={},
        properties={"message_id": "m1"},
        delivery_info={"routing_key": "q", "exchange": "", "redelivered": True},
    )
    incoming = from_delivery(kombu_message, 7)
    assert incoming.body == "héllo".encode()
    assert (incoming.delivery_tag, incoming.redelivered, incoming.message_id) == (7, True, "m1")


def test_property_text_utf8_cannot_encode_is_read_escaped() -> None:
    # py-amqp decodes a short string's bytes with surrogatepass: b"\xed\xa0\x80" is "\ud800".
    odd = b"m-\xed\xa0\x80".decode("utf-8", "surrogatepass")
    kombu_message = SimpleNamespace(
        body=b"{}",
        content_encoding=None,
        content_type=odd,
        headers={},
        properties={"message_id": odd, "correlation_id": odd, "reply_to": odd, "type": "t"},
        delivery_info={"routing_key": odd, "exchange": "", "redelivered": False},
    )
    incoming = from_delivery(kombu_message, 1)
    texts = (incoming.message_id, incoming.correlation_id, incoming.reply_to)
    assert texts == (r"m-\ud800", r"m-\ud800", r"m-\ud800")
    assert (incoming.routing_key, incoming.content_type, incoming.type) == (
        r"m-\ud800",
        r"m-\ud800",
        "t",
    )


@pytest.mark.parametrize("url", ["redis://localhost", "nosuch://x"])
def test_transports_other_than_amqp_and_memory_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="unsupported broker URL"):
        BrokerConnection(url)


def test_the_redacted_url_hides_the_password() -> None:
    conn = BrokerConnection("amqp://user:s3cret@rabbit.example:5672/vh")
    assert conn.url_redacted == "amqp://user:***@rabbit.example:5672/vh"
    assert "s3cret" not in repr(conn)
    assert conn.supports_confirms
    assert not BrokerConnection("memory://").supports_confirms
