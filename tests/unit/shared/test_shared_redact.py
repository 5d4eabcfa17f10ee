"""Passwords never survive redaction, whatever the URL looks like."""

from __future__ import annotations

import pytest

from dueq.shared.errors import BrokerUnavailable, StoreUnavailable
from dueq.shared.redact import (
    normalize_url,
    placeholder_password,
    redact_text,
    redact_url,
    split_urls,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:s3cret@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("amqps://u:p%40ss@host/vhost", "amqps://u:***@host/vhost"),
        (
            "postgresql+psycopg://app:hunter2@db:5432/dueq?sslmode=require",
            "postgresql+psycopg://app:***@db:5432/dueq?sslmode=require",
        ),
        ("postgresql://app:pa:ss@[::1]:5432/x", "postgresql://app:***@[::1]:5432/x"),
        ("sqlite:///dueq.sqlite3", "sqlite:///dueq.sqlite3"),
        ("amqp://guest@rabbit//", "amqp://guest@rabbit//"),
        ("memory://", "memory://"),
        (
            "amqp://u:p1@n1:5672//;amqps://u:p2@n2:5671/v;amqp://n3//",
            "amqp://u:***@n1:5672//;amqps://u:***@n2:5671/v;amqp://n3//",
        ),
    ],
)
def test_redact_url_hides_only_the_password(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_a_failover_url_shows_no_node_password_and_splits_into_its_nodes() -> None:
    url = "amqp://u:first@n1//; amqp://u:second@n2// ;amqp://u:third@n3//"
    redacted = redact_url(url)
    assert all(word not in redacted for word in ("first", "second", "third")), redacted
    assert split_urls(url) == ["amqp://u:first@n1//", "amqp://u:second@n2//", "amqp://u:third@n3//"]
    assert split_urls("amqp://one//") == ["amqp://one//"]


def test_redact_text_finds_urls_inside_messages() -> None:
    text = "could not connect to amqp://svc:topsecret@mq:5672// (refused); retry db://a:b@c/d"
    redacted = redact_text(text)
    assert "topsecret" not in redacted
    assert ":b@" not in redacted
    assert "amqp://svc:***@mq:5672//" in redacted


def test_service_errors_carry_the_url_without_its_password() -> None:
    broker = BrokerUnavailable("amqp://u:pw123@mq:5672//", "connection refused")
    store = StoreUnavailable("postgresql://u:pw456@db/x", "timeout")
    assert "pw123" not in str(broker)
    assert "mq:5672" in str(broker)
    assert "pw456" not in str(store)
    assert store.url == "postgresql://u:***@db/x"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@db/dueq?password=SECRET1&sslmode=require",
        "postgresql://u@db/x?sslpassword=SECRET1",
        "amqp://svc:pa/SECRET1@mq:5672//",
        "amqp://svc:p@ss/SECRET1?#@mq//",
        "amqp://svc@127.0.0.1:5//?password=SECRET1@host:pw",
        "amqp://svc:pa/ss@mq//?password=x@SECRET1",
    ],
)
def test_no_url_shape_keeps_its_password(url: str) -> None:
    assert "SECRET1" not in redact_url(url)
    assert "SECRET1" not in redact_text(f"error connecting to {url} (refused)")


def test_raw_reserved_characters_in_a_password_are_percent_encoded_for_the_parsers() -> None:
    assert normalize_url("amqp://svc:pa/ss@mq:5672//") == "amqp://svc:pa%2Fss@mq:5672//"
    assert normalize_url("amqp://svc:p%40ss@mq//") == "amqp://svc:p%40ss@mq//"  # unchanged
    assert normalize_url("amqp://mq//?password=a@b") == "amqp://mq//?password=a@b"


def test_libpq_password_parameters_in_free_text_are_hidden() -> None:
    text = "connection failed: host=db password='abc def' user=x; password=zz"
    assert redact_text(text) == "connection failed: host=db password=*** user=x; password=***"


def test_the_shipped_placeholder_password_is_recognised() -> None:
    assert placeholder_password("amqp://dueq:change-me@mq//")
    assert not placeholder_password("amqp://dueq:s3cret@mq//")
