"""Every broker name derives from the prefix; bad names are refused before reaching RabbitMQ."""

from __future__ import annotations

import pytest

from dueq.shared.errors import ConfigError
from dueq.shared.topology import QueueType, Topology


def test_names_follow_the_documented_layout() -> None:
    topo = Topology(prefix="acme")
    assert topo.runs_exchange == "acme.runs"
    assert topo.run_queue("reports") == "acme.runs.reports"
    assert topo.run_routing_key("reports") == "reports"
    assert topo.dead_letter_exchange == "acme.dlx"
    assert topo.dead_letter_queue == "acme.dead"
    assert topo.events_queue == "acme.events"
    assert topo.control_exchange == "acme.control"


def test_run_queues_dead_letter_and_limit_deliveries_on_quorum_queues() -> None:
    arguments = Topology(prefix="acme").run_queue_arguments()
    assert arguments == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "acme.dlx",
        "x-delivery-limit": 20,
    }


def test_the_events_queue_dead_letters_and_limits_deliveries_like_a_run_queue() -> None:
    # A poison event parks in acme.dead instead of restarting the events consumer forever.
    topo = Topology(prefix="acme")
    assert topo.events_queue_arguments() == topo.run_queue_arguments()
    assert topo.durable_queue_arguments() == {"x-queue-type": "quorum"}  # acme.dead: the end


def test_classic_queues_get_no_delivery_limit() -> None:
    arguments = Topology(prefix="acme", queue_type=QueueType.CLASSIC).run_queue_arguments()
    assert "x-delivery-limit" not in arguments


@pytest.mark.parametrize("bad", ["", "has space", "-leading", "x" * 201, "a/b", "é"])
def test_invalid_queue_names_are_refused_by_name(bad: str) -> None:
    with pytest.raises(ConfigError, match="queue"):
        Topology().run_queue(bad)


def test_an_invalid_prefix_is_refused() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        Topology(prefix="a b")
