"""Settings come from keywords or DUEQ_* variables, are frozen, and never print a password."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dueq.shared.errors import ConfigError
from dueq.shared.settings import DueqSettings, ServiceUrl
from dueq.shared.topology import QueueType


def test_settings_read_dueq_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUEQ_BROKER_URL", "amqp://u:secret@mq:5672//")
    monkeypatch.setenv("DUEQ_PREFIX", "acme")
    settings = DueqSettings()
    assert settings.broker_url.reveal() == "amqp://u:secret@mq:5672//"
    assert settings.prefix == "acme"


def test_keywords_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUEQ_PREFIX", "from-env")
    assert DueqSettings(prefix="from-kwargs").prefix == "from-kwargs"


def test_printing_settings_never_shows_a_password() -> None:
    settings = DueqSettings(
        broker_url="amqp://u:brokerpw@mq//", database_url="postgresql://u:dbpw@db/x"
    )
    for text in (str(settings), repr(settings), settings.model_dump_json()):
        assert "brokerpw" not in text
        assert "dbpw" not in text


def test_settings_are_frozen() -> None:
    settings = DueqSettings()
    with pytest.raises(ValidationError):
        settings.prefix = "other"  # type: ignore[misc]  # proving the assignment is refused


def test_an_invalid_prefix_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="prefix 'has space'"):
        DueqSettings(prefix="has space")


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="brokr_url"):
        DueqSettings(brokr_url="amqp://")  # type: ignore[call-arg]  # the typo is the test


def test_memory_transport_uses_classic_queues() -> None:
    assert DueqSettings(broker_url="memory://").topology().queue_type is QueueType.CLASSIC
    assert DueqSettings().topology().queue_type is QueueType.QUORUM


def test_service_urls_compare_by_value() -> None:
    assert ServiceUrl("amqp://a:b@c//") == ServiceUrl("amqp://a:b@c//")
    assert ServiceUrl("amqp://a:b@c//") != ServiceUrl("amqp://a:x@c//")


def test_several_broker_nodes_come_as_a_failover_list_or_a_python_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = "amqp://u:p@n1//;amqp://u:p@n2//;amqp://u:p@n3//"
    monkeypatch.setenv("DUEQ_BROKER_URL", nodes)
    assert DueqSettings().broker_url.reveal() == nodes
    listed = DueqSettings(broker_url=nodes.split(";"))
    assert listed.broker_url.reveal() == nodes
    assert "p@" not in str(listed.broker_url)


def test_placeholder_passwords_and_signing_keys_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="placeholder password"):
        DueqSettings(broker_url="amqp://dueq:change-me@mq//")
    with pytest.raises(ValueError, match="placeholder password"):
        DueqSettings(database_url="postgresql://dueq:change-me@db/dueq")
    with pytest.raises(ConfigError, match="placeholder"):
        DueqSettings(signing_key="change-me")
    with pytest.raises(ConfigError, match="at least 32"):
        DueqSettings(signing_key="too-short")
    settings = DueqSettings(signing_key="k" * 32, signing_old_keys=["o" * 32])
    assert "kkkk" not in repr(settings)
    assert settings.signer() is not None
    assert DueqSettings().signer() is None
