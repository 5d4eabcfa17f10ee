"""Bookkeeping for publisher confirms on one channel, free of any I/O.

After ``confirm.select`` the broker numbers a channel's publishes 1, 2, 3, ... and answers
each with ``basic.ack`` or ``basic.nack`` (possibly ``multiple``, covering every number up
to the tag, and possibly out of order).  An unroutable ``mandatory`` message comes back as
``basic.return`` *before* its ack, carrying the message but not its number, so a return
is matched to the oldest unconfirmed message with the same destination and body.

Failures keep their sequence number, so a publisher with several batches in flight can tell
each batch its own (``confirmed_through`` and ``take_failures(through=...)``).
"""

from __future__ import annotations

from collections import OrderedDict

from dueq.shared.broker.errors import PublishFailure
from dueq.shared.broker.messages import OutgoingMessage

__all__ = ["ConfirmTracker"]


class ConfirmTracker:
    """Which publishes of one confirm-mode channel await the broker's answer."""

    def __init__(self) -> None:
        self._next_seq = 1
        self._pending: OrderedDict[int, OutgoingMessage] = OrderedDict()
        self._returned: dict[int, str] = {}
        self._failures: list[tuple[int, PublishFailure]] = []
        # True once the broker nacked anything on this channel (see Publisher).
        self.nacked_any = False

    @property
    def in_flight(self) -> int:
        """Messages published but neither acked nor nacked yet."""
        return len(self._pending)

    @property
    def last_sent(self) -> int:
        """The sequence number of the newest publish (0 before the first)."""
        return self._next_seq - 1

    def confirmed_through(self, seq: int) -> bool:
        """True once every publish numbered ``seq`` or lower is acked or nacked."""
        oldest = next(iter(self._pending), None)
        return oldest is None or oldest > seq

    def sent(self, message: OutgoingMessage) -> int:
        """Record a publish; return its sequence number."""
        seq = self._next_seq
        self._next_seq += 1
        self._pending[seq] = message
        return seq

    def acked(self, delivery_tag: int, multiple: bool) -> None:
        """Handle ``basic.ack``: confirmed, unless the message was returned before."""
        for seq, message in self._settle(delivery_tag, multiple):
            reason = self._returned.pop(seq, None)
            if reason is not None:
                self._failures.append((seq, PublishFailure(message=message, reason=reason)))

    def nacked(self, delivery_tag: int, multiple: bool) -> None:
        """Handle ``basic.nack``: the broker could not take the message."""
        self.nacked_any = True
        for seq, message in self._settle(delivery_tag, multiple):
            returned = self._returned.pop(seq, None)
            failure = PublishFailure(
                message=message,
                reason=returned or "nacked by the broker",
                nacked=returned is None,  # a returned message is unroutable, not refused
            )
            self._failures.append((seq, failure))

    def returned(self, exchange: str, routing_key: str, body: bytes, reason: str) -> None:
        """Handle ``basic.return``: mark the oldest matching unconfirmed message."""
        for seq, message in self._pending.items():
            if seq in self._returned:
                continue
            if (message.exchange, message.routing_key, message.body) == (
                exchange,
                routing_key,
                body,
            ):
                self._returned[seq] = reason
                return

    def abandon(self, reason: str) -> None:
        """Fail every unconfirmed message (its channel was closed before confirming)."""
        for seq, message in self._pending.items():
            self._failures.append((seq, PublishFailure(message=message, reason=reason)))
        self._pending.clear()
        self._returned.clear()

    def take_failures(self, through: int | None = None) -> list[PublishFailure]:
        """Return and forget the failures recorded so far (of publishes up to ``through``)."""
        limit = self.last_sent if through is None else through
        taken = [failure for seq, failure in self._failures if seq <= limit]
        self._failures = [(seq, failure) for seq, failure in self._failures if seq > limit]
        return taken

    def _settle(self, delivery_tag: int, multiple: bool) -> list[tuple[int, OutgoingMessage]]:
        if not multiple:
            message = self._pending.pop(delivery_tag, None)
            return [] if message is None else [(delivery_tag, message)]
        settled = []
        while self._pending:
            seq = next(iter(self._pending))
            if seq > delivery_tag:
                break
            settled.append(self._pending.popitem(last=False))
        return settled
