"""Handling one parsed run in a slot thread: dedupe → misfire → claim → execute → report.

Parsing happened in the broker thread (a bad message is dead-lettered there).  Every
outcome here becomes an ``Outbound`` for the broker thread: events to publish, then the
delivery to ack.  When claims are durable (a database) the run is acked as soon as it is
claimed and ``job_started`` is confirmed, so a job may run longer than the broker's
consumer ack timeout; otherwise it is acked only after its outcome is confirmed, so a
killed worker's run is redelivered by the broker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from dueq.shared.broker import OutgoingMessage
from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import Event, MissedReason, RunRequest
from dueq.shared.retry import call_with_retry, retrying
from dueq.worker import checks
from dueq.worker.checks import Delivery
from dueq.worker.claims import ClaimResult, ClaimStore, Duplicate, Full
from dueq.worker.context import RunContext
from dueq.worker.executors import Executor
from dueq.worker.leases import RunningRuns
from dueq.worker.outbox import Outbound, Outbox, Settle
from dueq.worker.outcomes import log_finished, log_max_instances, log_missed
from dueq.worker.overlap import OverlapPolicy
from dueq.worker.reporter import Reporter
from dueq.worker.retrying import retry_request

__all__ = ["RunHandler"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RunHandler:
    """The per-run pipeline after parsing; ``handle`` is called by the slot threads."""

    def __init__(
        self,
        *,
        claims: ClaimStore,
        executor: Executor,
        reporter: Reporter,
        outbox: Outbox,
        running: RunningRuns,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        stopping: threading.Event | None = None,
    ) -> None:
        self._claims = claims
        self._executor = executor
        self._reporter = reporter
        self._outbox = outbox
        self._running = running
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._overlap = OverlapPolicy(
            claim=self._claim,
            release=lambda run_id: self._store(lambda: claims.release(run_id)),
            hold=running.add,
            unhold=running.discard,
            cancel=executor.cancel,
            stopping=stopping or threading.Event(),
        )

    def handle(self, delivery: Delivery) -> None:
        """Run every remaining check and, if all pass, the job; report what happened."""
        try:
            self._checked(delivery)
        except StoreUnavailable as exc:
            # Not claimed: hand the run back so this or another worker tries again.
            log.error("database unavailable; handing run %s back: %s", delivery.run.run_id, exc)
            self._settle(delivery, Settle.REQUEUE)

    def _checked(self, delivery: Delivery) -> None:
        run, now = delivery.run, self._clock()
        duplicate = self._store(lambda: checks.dedupe(run, self._claims, now))
        if duplicate is not None:
            self._drop(delivery, duplicate)
            return
        lateness = checks.misfire(run, now)
        if lateness is not None:
            log_missed(run, lateness)
            event = self._reporter.missed(run, delivery.redelivered, lateness)
            self._settle(delivery, Settle.ACK, self._message(delivery, event))
            return
        lateness = checks.coalesced(run, now)
        if lateness is not None:
            event = self._reporter.missed(
                run, delivery.redelivered, lateness, MissedReason.COALESCED
            )
            self._settle(delivery, Settle.ACK, self._message(delivery, event))
            return
        result = self._overlap.claim(run)
        if result is None:  # stopping while it waited for a slot: not started
            self._settle(delivery, Settle.REQUEUE)
        elif isinstance(result, Duplicate):
            self._drop(delivery, result)
        elif isinstance(result, Full):
            log_max_instances(run, result.running)
            full = self._reporter.max_instances(run, delivery.redelivered, result.running)
            self._settle(delivery, Settle.ACK, self._message(delivery, full))
        else:
            self._running.add(run.run_id)
            try:
                self._execute(delivery, result.taken_over)
            finally:
                self._running.discard(run.run_id)

    def _execute(self, delivery: Delivery, taken_over: bool) -> None:
        run, redelivered = delivery.run, delivery.redelivered
        context = RunContext.of(
            run, worker_id=self._worker_id, redelivered=redelivered, taken_over=taken_over
        )
        begun = self._reporter.started(run, redelivered, self._clock(), taken_over=taken_over)
        started = self._message(delivery, begun)
        durable = self._claims.durable
        if durable:
            self._settle(delivery, Settle.ACK, started)  # the claim now guards the run
        else:
            self._outbox.put(Outbound((started,)))
        outcome = self._executor.execute(run, delivery.func, context)
        log_finished(run, outcome)
        finished = self._reporter.finished(
            run, redelivered, outcome, taken_over=taken_over, retry=retry_request(run, outcome)
        )
        report = self._message(delivery, finished)
        if durable:
            # Finish the claim only once the outcome is confirmed: dying in between makes
            # the reaper hand the run over, never leaves it done but unreported.
            self._outbox.send((report,)).wait()
            self._finish_durably(run.run_id)
        else:
            self._claims.finish(run.run_id, self._clock())
            self._settle(delivery, Settle.ACK, report)

    def _finish_durably(self, run_id: str) -> None:
        """Mark a reported run finished, however long the database is away.

        The run was acked when claimed, so there is nothing to hand back: until the claim
        says finished it must stay ours (the caller keeps it in ``RunningRuns``, so the
        lease keeper renews it the moment the database returns) or a reaper would run it
        again.  Retries are at most a quarter lease apart, so the finish lands well within
        the grace a returning reaper gives its owners (see ``LeaseKeeper``).
        """
        attempts = retrying("database", log, max_wait=self._lease.total_seconds() / 4)
        attempts(lambda: self._claims.finish(run_id, self._clock()))

    def _claim(self, run: RunRequest) -> ClaimResult:
        """Step 4, at the claim store's clock of this moment (a waiting run asks again)."""
        return self._store(
            lambda: checks.claim(run, self._claims, self._worker_id, self._clock(), self._lease)
        )

    def _drop(self, delivery: Delivery, duplicate: Duplicate) -> None:
        log.info(
            "dropping duplicate delivery of run %s (job %s, already %s)",
            delivery.run.run_id,
            delivery.run.job_id,
            duplicate.status.value,
        )
        self._settle(delivery, Settle.ACK)

    def _message(self, delivery: Delivery, event: Event) -> OutgoingMessage:
        return self._reporter.message(event, reply_to=delivery.message.reply_to)

    def _settle(self, delivery: Delivery, settle: Settle, *messages: OutgoingMessage) -> None:
        self._outbox.put(Outbound(messages, delivery.message, delivery.generation, settle))

    def _store(self, call: Callable[[], T]) -> T:
        """Call the claim store, riding out database outages for up to one lease."""
        try:
            return call()  # the common case, without building a retry policy per call
        except StoreUnavailable as exc:
            log.warning("temporary database error: %s", exc)
        give_up = self._lease.total_seconds()
        return call_with_retry("database", log, call, give_up_after=give_up)
