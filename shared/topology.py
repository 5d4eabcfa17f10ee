"""Names and shapes of dueq's RabbitMQ entities, as pure values.

Nothing here talks to a broker: the kombu adapters in ``shared.broker`` turn a
``Topology`` into declarations.  Keeping the names in one pure place lets tests give every
test its own prefix, and lets a consumer in another language read the layout from
``docs/protocol.md`` alone.

Layout for prefix ``dueq`` and a job queue ``default``::

    exchange dueq.runs     (direct)  --routing key "default"-->  queue dueq.runs.default
    exchange dueq.dlx      (fanout)  ----------------------------> queue dueq.dead
    exchange ""            (default) --routing key "dueq.events"--> queue dueq.events
    exchange dueq.control  (fanout)  --> one exclusive queue per running scheduler
    exchange dueq.listeners (fanout) --> one exclusive queue per running scheduler
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dueq.shared.errors import ConfigError

__all__ = [
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_PREFIX",
    "DEFAULT_QUEUE",
    "QueueType",
    "Topology",
    "validate_name",
]

DEFAULT_PREFIX = "dueq"
DEFAULT_QUEUE = "default"

# A quorum queue dead-letters a message delivered this many times (reason delivery_limit):
# a run that kills every worker it reaches is parked in dueq.dead instead of looping forever.
# Twenty matches RabbitMQ 4's default; 3.x has no default, so we set it explicitly.
DEFAULT_DELIVERY_LIMIT = 20

# Letters, digits and . _ - : only, so names are safe in AMQP, URLs, logs and file names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$")


class QueueType(StrEnum):
    """RabbitMQ queue type for the durable queues (quorum is replicated and the default)."""

    QUORUM = "quorum"
    CLASSIC = "classic"


def validate_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid prefix or job queue name, else raise ConfigError."""
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid {kind} {name!r}: use 1-200 letters, digits or . _ - : "
            "(starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True, kw_only=True)
class Topology:
    """Every exchange, queue and routing key dueq uses, derived from one prefix."""

    prefix: str = DEFAULT_PREFIX
    queue_type: QueueType = QueueType.QUORUM
    delivery_limit: int | None = DEFAULT_DELIVERY_LIMIT

    def __post_init__(self) -> None:
        validate_name("prefix", self.prefix)

    @property
    def runs_exchange(self) -> str:
        """Direct exchange the scheduler publishes RunRequests to (routing key = job queue)."""
        return f"{self.prefix}.runs"

    def run_queue(self, queue: str) -> str:
        """The AMQP queue holding the runs of job queue ``queue``."""
        return f"{self.prefix}.runs.{validate_name('queue', queue)}"

    @staticmethod
    def run_routing_key(queue: str) -> str:
        """Routing key of a run on ``runs_exchange``: the job queue name itself."""
        return validate_name("queue", queue)

    @property
    def dead_letter_exchange(self) -> str:
        """Fanout exchange every run queue dead-letters into."""
        return f"{self.prefix}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        """Where rejected and poison messages are parked, with the reason in their headers."""
        return f"{self.prefix}.dead"

    @property
    def events_queue(self) -> str:
        """Durable queue of ExecutionEvents; the ``reply_to`` of every RunRequest."""
        return f"{self.prefix}.events"

    @property
    def control_exchange(self) -> str:
        """Fanout exchange carrying wakeups to running schedulers."""
        return f"{self.prefix}.control"

    @property
    def listeners_exchange(self) -> str:
        """Fanout exchange on which the leader passes recorded job outcomes to every
        running scheduler's listeners."""
        return f"{self.prefix}.listeners"

    def run_queue_arguments(self) -> dict[str, Any]:
        """``x-`` arguments of a run queue: type, dead-lettering and the delivery limit."""
        arguments: dict[str, Any] = {
            "x-queue-type": self.queue_type.value,
            "x-dead-letter-exchange": self.dead_letter_exchange,
        }
        if self.queue_type is QueueType.QUORUM and self.delivery_limit is not None:
            arguments["x-delivery-limit"] = self.delivery_limit
        return arguments

    def events_queue_arguments(self) -> dict[str, Any]:
        """``x-`` arguments of the events queue: the same poison-message guard as runs.

        An event the scheduler cannot take is dead-lettered by the events consumer; one
        that keeps killing it anyway is parked by the broker after the delivery limit.
        """
        return self.run_queue_arguments()

    def durable_queue_arguments(self) -> dict[str, Any]:
        """``x-`` arguments of the dead-letter queue: the end of the line, no DLX of its own."""
        return {"x-queue-type": self.queue_type.value}
