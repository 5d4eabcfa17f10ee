"""Running one admitted run in a slot thread: last misfire check → execute → report.

The gate has deduped and claimed the run (see ``admission``).  Every outcome here becomes
an ``Outbound`` for the broker thread: events to publish, then the delivery to ack.  When
claims are durable (a database) the gate acked the run with its claim, so a job may run
longer than the broker's consumer ack timeout, and its claim is marked finished only once
its outcome is confirmed; otherwise it is acked only after its outcome is confirmed, so a
killed worker's run is redelivered by the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dueq.shared.broker import OutgoingMessage
from dueq.shared.protocol import Event
from dueq.worker import checks
from dueq.worker.checks import Delivery
from dueq.worker.closer import ClaimCloser
from dueq.worker.executors import Executor
from dueq.worker.leases import RunningRuns
from dueq.worker.outbox import Outbound, Outbox, Settle
from dueq.worker.reporter import Reporter

__all__ = ["RunHandler"]


class RunHandler:
    """The per-run pipeline after admission; ``handle`` is called by the slot threads."""

    def __init__(
        self,
        *,
        durable: bool,
        closer: ClaimCloser,
        running: RunningRuns,
        executor: Executor,
        reporter: Reporter,
        outbox: Outbox,
        clock: Callable[[], datetime],
    ) -> None:
        self._durable = durable
        self._closer = closer
        self._running = running
        self._executor = executor
        self._reporter = reporter
        self._outbox = outbox
        self._clock = clock

    def handle(self, delivery: Delivery) -> None:
        """Start the claimed run unless it waited for a slot past its misfire grace."""
        run = delivery.run
        lateness = checks.misfire(run, self._clock())
        if lateness is not None:
            self._closer.release((run.run_id,))
            event = self._message(
                delivery, self._reporter.missed(run, delivery.redelivered, lateness)
            )
            if self._durable:
                self._outbox.put(Outbound((event,)))  # acked when it was claimed
            else:
                self._settle(delivery, Settle.ACK, event)
            return
        self._execute(delivery)

    def _execute(self, delivery: Delivery) -> None:
        run, redelivered = delivery.run, delivery.redelivered
        started = self._message(delivery, self._reporter.started(run, redelivered, self._clock()))
        self._outbox.put(Outbound((started,)))  # with a database, acked when claimed
        try:
            outcome = self._executor.execute(run, delivery.func)
        except BaseException:
            # The executor's own failure (a job's is an outcome): stop renewing the claim,
            # so its lease lapses and the reaper hands the run to another worker.
            self._running.discard(run.run_id)
            raise
        report = self._message(delivery, self._reporter.finished(run, redelivered, outcome))
        if self._durable:
            # Finish the claim only once the outcome is confirmed: dying in between makes
            # the reaper hand the run over, never leaves it done but unreported.
            run_id = run.run_id
            self._outbox.put(Outbound((report,), then=lambda: self._closer.finish(run_id)))
        else:
            self._closer.finish(run.run_id)
            self._settle(delivery, Settle.ACK, report)

    def _message(self, delivery: Delivery, event: Event) -> OutgoingMessage:
        return self._reporter.message(event, reply_to=delivery.message.reply_to)

    def _settle(self, delivery: Delivery, settle: Settle, *messages: OutgoingMessage) -> None:
        self._outbox.put(Outbound(messages, delivery.message, delivery.generation, settle))
