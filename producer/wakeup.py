"""Wakeups on ``dueq.control``: "the jobs changed, plan again now".

Any process that changes jobs (a client-only ``Scheduler``, the CLI) sends one after the
change is committed; every running scheduler has a queue on the fanout exchange and
re-plans at once.  A wakeup is only a hint: failing to send one is logged, never raised,
because the loop also re-plans at least every ``max_sleep_seconds``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING

from dueq.shared.errors import ConfigError, ServiceUnavailable
from dueq.shared.topology import Topology

if TYPE_CHECKING:
    from dueq.shared.broker import BrokerConnection, OutgoingMessage

__all__ = ["WAKEUP_MESSAGE_TYPE", "WakeupSender", "wakeup_message"]

logger = logging.getLogger(__name__)

WAKEUP_MESSAGE_TYPE = "dueq.wakeup"
# A client that cannot reach the broker should not hang an add_job call for long.
_CONNECT_TIMEOUT_S = 5.0


def wakeup_message(topology: Topology) -> OutgoingMessage:
    from dueq.shared.broker import OutgoingMessage  # kombu loads when a wakeup is sent

    """The control message every scheduler's control queue receives."""
    return OutgoingMessage(
        body=json.dumps({"protocol": 1, "control": "wakeup"}).encode(),
        exchange=topology.control_exchange,
        routing_key="",
        type=WAKEUP_MESSAGE_TYPE,
        persistent=False,
    )


class WakeupSender:
    """Sends wakeups from any thread, over one lazily opened connection guarded by a lock.

    The connection has heartbeats off: it sits idle between API calls with nobody reading
    from it, and a broken one is simply replaced at the next send.
    """

    def __init__(self, broker_url: str, topology: Topology, *, name: str | None = None) -> None:
        self._url = broker_url
        self._topology = topology
        self._name = name
        self._lock = threading.Lock()
        self._connection: BrokerConnection | None = None

    def send(self) -> bool:
        """Send one wakeup; True if the broker took it.  Never raises."""
        # kombu loads here, not at import: a command that only reads jobs never needs it.
        from dueq.shared.broker import PublishError

        reason: Exception | None = None
        with self._lock:
            for _attempt in range(2):  # a stale connection gets one fresh retry
                try:
                    self._publish()
                    return True
                except PublishError:
                    # Unroutable: no scheduler is running to hear it, which is fine.
                    logger.debug("wakeup not delivered: no scheduler is listening")
                    return False
                except (ServiceUnavailable, ConfigError) as exc:
                    self._drop()
                    reason = exc
            logger.warning("could not send a wakeup to the schedulers: %s", reason)
            return False

    def close(self) -> None:
        """Close the connection, if one was opened."""
        with self._lock:
            self._drop()

    def _publish(self) -> None:
        if self._connection is None:
            from dueq.shared.broker import BrokerConnection

            connection = BrokerConnection(
                self._url, heartbeat=0, connect_timeout=_CONNECT_TIMEOUT_S, name=self._name
            )
            connection.connect()
            self._connection = connection
            connection.declare_topology(self._topology, ())
            self._publisher = connection.publisher()
        self._publisher.publish(wakeup_message(self._topology))

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # closing a broken connection must not mask the real error
                logger.debug("error closing the wakeup connection", exc_info=True)
