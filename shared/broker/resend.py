"""Publishing that sends what the broker nacked once or twice more.

A ``basic.nack`` says the broker could not take a message at that moment: a queue restarting,
or a quorum queue whose Raft member has not started yet (RabbitMQ 3.10 answers a second,
concurrent first declaration of a queue before it has, so a fresh deployment's first
publishes can race it).  Sent again a moment later, such a message is usually taken.  A
message returned as unroutable, or refused with a channel error, would fail the same way
again, so only nacked messages are resent.  Used where a refused message cannot be published
again later by its sender's own retry: a worker's events (the scheduler's runs, for instance,
are simply published again by its next tick).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from dueq.shared.broker.errors import PublishError, PublishFailure
from dueq.shared.broker.messages import OutgoingMessage

__all__ = ["RESEND_PAUSES_S", "publish_resending_nacked"]

logger = logging.getLogger(__name__)

# Pauses before each resend: a quorum queue's member starts within milliseconds, a queue
# restarting within a fraction of a second.  At most 0.3 s in all, on a rare path.
RESEND_PAUSES_S = (0.05, 0.25)


class _PublishesMany(Protocol):
    def publish_many(self, messages: Sequence[OutgoingMessage]) -> None: ...


def publish_resending_nacked(
    publisher: _PublishesMany,
    messages: Sequence[OutgoingMessage],
    *,
    pauses: Sequence[float] = RESEND_PAUSES_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """``publisher.publish_many(messages)``, resending the nacked ones after each pause.

    Raises ``PublishError`` naming every message still not accepted at the end: those the
    broker refused otherwise at once, and those nacked on every attempt.
    """
    if not messages:
        return
    failed: list[PublishFailure] = []  # refused otherwise: not sent again
    nacked: list[PublishFailure] = []
    pending = list(messages)
    for attempt, pause in enumerate((0.0, *pauses)):
        if attempt:
            logger.warning("the broker nacked %d message(s); sending them again", len(pending))
            sleep(pause)
        try:
            publisher.publish_many(pending)
        except PublishError as exc:
            failed += [failure for failure in exc.failures if not failure.nacked]
            nacked = [failure for failure in exc.failures if failure.nacked]
        else:
            nacked = []
        pending = [failure.message for failure in nacked]
        if not pending:
            break
    failed += nacked  # nacked on every attempt
    if failed:
        raise PublishError(failed, len(messages))
