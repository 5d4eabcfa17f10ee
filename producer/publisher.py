"""Publishing RunRequests: the port the loop uses, an in-memory one and the broker one.

The broker adapter turns each RunRequest into an AMQP message as the protocol defines it
(``message_id`` = ``correlation_id`` = run id, ``reply_to`` = the events queue, persistent,
JSON) and sends a whole batch with pipelined publisher confirms.  A batch can be sent and
confirmed in two steps (``send_runs``, ``confirm_runs``), so the loop plans the next batch
while the broker confirms this one.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dueq.shared.broker import BrokerConnection, OutgoingMessage, Publisher, PublishError, Sent
from dueq.shared.protocol import CONTENT_TYPE, RunRequest
from dueq.shared.protocol.runbytes import EncodedRun
from dueq.shared.signing import RUN_TYPE, Signer
from dueq.shared.topology import Topology

__all__ = [
    "RUN_MESSAGE_TYPE",
    "BrokerRunPublisher",
    "MemoryRunPublisher",
    "RunPublisher",
    "SentRuns",
    "to_message",
]

# AMQP ``type`` property of every RunRequest message (signed with the body).
RUN_MESSAGE_TYPE = RUN_TYPE


@dataclass(frozen=True)
class SentRuns:
    """Runs written to the broker whose confirms may still be on the way."""

    runs: Sequence[EncodedRun]
    handle: Sent | None = None


class RunPublisher(ABC):
    """Sends runs to the workers."""

    def publish_runs(self, runs: Sequence[EncodedRun]) -> None:
        """Publish ``runs`` and return only once the broker has taken every one.

        Raises ``BrokerUnavailable`` (connection lost: the fate of the batch is unknown, so
        it must be published again) or ``PublishError`` (some were refused).
        """
        self.confirm_runs(self.send_runs(runs))

    @abstractmethod
    def send_runs(self, runs: Sequence[EncodedRun]) -> SentRuns:
        """Start publishing ``runs``; ``confirm_runs`` waits until the broker took them.

        Batches sent one after another may be in flight together; each is confirmed, or
        fails, on its own.  May raise what ``publish_runs`` raises.
        """

    @abstractmethod
    def confirm_runs(self, sent: SentRuns) -> None:
        """Return once every run of ``sent`` is confirmed; raise as ``publish_runs`` does."""


def to_message(
    run: RunRequest | EncodedRun, topology: Topology, signer: Signer | None = None
) -> OutgoingMessage:
    """The AMQP message carrying ``run`` (see docs/protocol.md), signed when a key is set."""
    if isinstance(run, RunRequest):
        run = EncodedRun.of(run)
    body = run.body
    return OutgoingMessage(
        body=body,
        headers=signer.headers(RUN_TYPE, body) if signer is not None else {},
        exchange=topology.runs_exchange,
        routing_key=topology.run_routing_key(run.queue),
        message_id=run.run_id,
        correlation_id=run.run_id,
        reply_to=topology.events_queue,
        type=RUN_MESSAGE_TYPE,
        content_type=CONTENT_TYPE,
        persistent=True,
    )


class BrokerRunPublisher(RunPublisher):
    """Publishes on a ``BrokerConnection`` (used from that connection's thread only).

    Declares each job queue the first time a run goes to it, so runs published before any
    worker has started wait in a durable queue instead of being returned as unroutable.
    """

    def __init__(
        self,
        connection: BrokerConnection,
        topology: Topology,
        *,
        timeout: float = 30.0,
        signer: Signer | None = None,
    ) -> None:
        self._signer = signer
        self._connection = connection
        self._publisher: Publisher = connection.publisher()
        self._topology = topology
        self._timeout = timeout
        self._declared: set[str] = set()

    def send_runs(self, runs: Sequence[EncodedRun]) -> SentRuns:
        new_queues = {run.queue for run in runs} - self._declared
        if new_queues:
            self._connection.declare_topology(self._topology, sorted(new_queues))
            self._declared |= new_queues
        messages = [to_message(run, self._topology, self._signer) for run in runs]
        with self._redeclare_on_refusal():
            return SentRuns(runs, self._publisher.send_many(messages, timeout=self._timeout))

    def confirm_runs(self, sent: SentRuns) -> None:
        if sent.handle is not None:
            with self._redeclare_on_refusal():
                self._publisher.wait_confirmed(sent.handle, timeout=self._timeout)

    @contextlib.contextmanager
    def _redeclare_on_refusal(self) -> Iterator[None]:
        try:
            yield
        except PublishError:
            # Unroutable: a queue was deleted behind our back.  Declare again next time.
            self._declared.clear()
            raise


class MemoryRunPublisher(RunPublisher):
    """Keeps published runs in a list: for unit tests of the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[RunRequest] = []

    def send_runs(self, runs: Sequence[EncodedRun]) -> SentRuns:
        with self._lock:
            self._runs.extend(run.request() for run in runs)
        return SentRuns(runs)

    def confirm_runs(self, sent: SentRuns) -> None:
        """Nothing to wait for: the runs were kept when sent."""

    @property
    def runs(self) -> list[RunRequest]:
        """Every run published so far, in order."""
        with self._lock:
            return list(self._runs)

    def clear(self) -> None:
        """Forget the runs published so far."""
        with self._lock:
            self._runs.clear()
