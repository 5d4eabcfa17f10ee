"""A third party's consumer is given to the kit as a command line, nothing edited."""

from __future__ import annotations

import pytest

from tests.conformance.conformance_consumers import external_consumer


def test_the_command_line_becomes_the_consumer_under_test() -> None:
    spec = external_consumer(
        {
            "DUEQ_CONFORMANCE_CONSUMER": "ruby worker.rb --url '{url}' -p {prefix} -q {queue}",
            "DUEQ_CONFORMANCE_NAME": "ruby",
            "DUEQ_CONFORMANCE_FAST_HEARTBEAT": "--heartbeat 0.5",
        }
    )
    assert spec is not None
    assert spec.name == "ruby"
    assert spec.command(url="amqp://h/%2F", prefix="p", queue="q") == [
        "ruby", "worker.rb", "--url", "amqp://h/%2F", "-p", "p", "-q", "q",
    ]  # fmt: skip
    assert list(spec.beating_fast().argv[-2:]) == ["--heartbeat", "0.5"]


def test_without_the_variable_the_built_in_consumers_run() -> None:
    assert external_consumer({}) is None


def test_a_command_without_placeholders_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\{prefix\}, \{queue\}"):
        external_consumer({"DUEQ_CONFORMANCE_CONSUMER": "ruby worker.rb --url {url}"})
