"""The example consumers follow docs/protocol.md on nacked events: once more, then lost.

A broker nacks a publish when the queue refuses it (a length limit, say). The protocol
asks a consumer to publish the event again and, if that fails too, to log it as lost and
still settle the run, so that no run stays unacknowledged for ever. Making a real
RabbitMQ nack on demand needs a policy (administrator rights), so each example's publisher
is driven here over a stand-in channel that nacks as told; everything else about the
examples is proved against the real broker by the rest of the kit.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from typing import Any

import pytest
from pika.exceptions import NackError

from examples.pika_worker.broker import EVENT_ATTEMPTS, Layout, Publisher
from tests.conformance.conformance_process import REPO

_EVENT = {"event": "job_executed", "run_id": "r-1"}


class NackingChannel:
    """A pika confirm channel whose first ``nacks`` publishes are nacked."""

    def __init__(self, nacks: int) -> None:
        self.nacks = nacks
        self.published: list[str] = []

    def confirm_delivery(self) -> None:
        pass

    def basic_publish(
        self, exchange: str, routing_key: str, body: bytes, *_: Any, **__: Any
    ) -> None:
        self.published.append(routing_key)
        if len(self.published) <= self.nacks:
            raise NackError([])


def _pika_publish(nacks: int) -> NackingChannel:
    channel = NackingChannel(nacks)
    Publisher(channel, Layout(prefix="p", queue="q")).event(dict(_EVENT))
    return channel


def test_pika_publishes_a_nacked_event_once_more() -> None:
    assert _pika_publish(nacks=1).published == ["p.events", "p.events"]


def test_pika_gives_up_on_an_event_nacked_every_time_and_says_it_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pika_worker"):
        channel = _pika_publish(nacks=99)  # returns: the caller then acknowledges the run
    assert len(channel.published) == EVENT_ATTEMPTS == 2
    assert "event job_executed lost: nacked 2 times" in caplog.text


# The Node publisher over a channel that nacks the first NACKS publishes; prints the routing
# keys published to, then the log lines, as JSON.
_NODE_PROBE = """
const { Layout, Publisher } = require("./lib/broker");
const nacks = Number(process.argv[1]);
const published = [];
const lines = [];
const channel = {
  on() {},
  publish(exchange, routingKey, content, options, done) {
    published.push(routingKey);
    done(published.length <= nacks ? new Error("message nacked") : null);
  },
};
const layout = new Layout({ prefix: "p", queue: "q" });
const publisher = new Publisher(channel, layout, (line) => lines.push(line));
publisher.event({ event: "job_executed", run_id: "r-1" }).then(
  () => console.log(JSON.stringify({ published, lines })),
  (err) => console.log(JSON.stringify({ published, lines, error: err.message })),
);
"""


@pytest.fixture(scope="module")
def node_publish(node_modules_installed: None) -> Any:
    node = shutil.which("node")
    assert node is not None

    def publish(nacks: int) -> dict[str, Any]:
        done = subprocess.run(
            [node, "-e", _NODE_PROBE, str(nacks)], cwd=REPO / "examples" / "node_worker",
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return publish


def test_node_publishes_a_nacked_event_once_more(node_publish: Any) -> None:
    result = node_publish(1)
    assert result["published"] == ["p.events", "p.events"]
    assert "error" not in result


def test_node_gives_up_on_an_event_nacked_every_time_and_says_it_is_lost(
    node_publish: Any,
) -> None:
    result = node_publish(99)
    assert result["published"] == ["p.events", "p.events"]
    assert "error" not in result  # resolved: the consumer goes on to acknowledge the run
    assert "event job_executed lost: nacked 2 times" in result["lines"]
