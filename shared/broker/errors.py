"""Errors the broker adapter raises besides ``BrokerUnavailable``.

``BrokerUnavailable`` (from ``shared.errors``) means "the connection is gone, reconnect and
retry".  The errors here mean something else has to react: a message the broker refused
(``PublishError``), broker entities that do not match what dueq declares
(``TopologyError``), or a caller bug with delivery tags (``DeliveryTagError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dueq.shared.broker.messages import OutgoingMessage
from dueq.shared.errors import ConfigError, DueqError

__all__ = ["DeliveryTagError", "PublishError", "PublishFailure", "TopologyError"]

# How many failures a PublishError names in its message; the rest are counted.  The full
# list is always on ``PublishError.failures``.
_NAMED_FAILURES = 5


@dataclass(frozen=True, kw_only=True)
class PublishFailure:
    """One message the broker did not accept, and why (in the broker's words)."""

    message: OutgoingMessage
    reason: str
    nacked: bool = False
    """The broker answered ``basic.nack``: it could not take the message at that moment (a
    queue restarting, or still starting), so sending it again may succeed.  False for a
    message returned as unroutable or refused by a channel error, which would fail again."""

    def describe(self) -> str:
        """One line naming where the message went and why it failed."""
        where = self.message.exchange or "(default exchange)"
        return f"{self.reason} (exchange {where!r}, routing key {self.message.routing_key!r})"


class PublishError(DueqError):
    """The broker refused some messages: unroutable (basic.return), nacked, or rejected.

    Every message of the batch not listed in ``failures`` was confirmed by the broker, so
    a caller may retry just the failures (after fixing the cause) or report them.
    """

    def __init__(self, failures: Sequence[PublishFailure], total: int) -> None:
        self.failures = tuple(failures)
        self.total = total
        named = "; ".join(f.describe() for f in self.failures[:_NAMED_FAILURES])
        more = len(self.failures) - _NAMED_FAILURES
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"{len(self.failures)} of {total} message(s) not accepted by the broker: "
            f"{named}{suffix}"
        )


class TopologyError(ConfigError):
    """A queue or exchange is missing, or exists with other arguments than dueq declares.

    Typical cause: a queue first declared as ``classic`` and now configured as ``quorum``
    (RabbitMQ refuses to change a queue's type).  Not retried: delete the queue or change
    the setting.
    """


class DeliveryTagError(DueqError, LookupError):
    """``ack``/``reject`` of a delivery tag this consumer does not hold.

    Raised instead of sending the tag: RabbitMQ answers an unknown tag by closing the
    channel, which would return every other unacknowledged delivery to the queue.
    """
