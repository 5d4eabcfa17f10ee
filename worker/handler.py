"""Running one admitted run in a slot thread: last lateness check → (claim) → execute → report.

The gate has deduped the run and, for most runs, claimed it (see ``admission``); a run
whose overlap policy may wait for a slot of its job arrives unclaimed and is claimed here
under that policy (``overlap``), per run, as it waits in this slot.  Every outcome here
becomes an ``Outbound`` for the broker thread: events to publish, then the delivery to ack.
When claims are durable (a database) a run is acked once claimed, so a job may run longer
than the broker's consumer ack timeout, and its claim is marked finished only once its
outcome is confirmed; otherwise it is acked only after its outcome is confirmed, so a
killed worker's run is redelivered by the broker.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from dueq.shared.broker import OutgoingMessage
from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import Event, MissedReason, RunRequest
from dueq.worker import checks
from dueq.worker.checks import Delivery
from dueq.worker.claims import Claimed, ClaimResult, ClaimStore, Duplicate, Full
from dueq.worker.claims.outage import call_store
from dueq.worker.closer import ClaimCloser
from dueq.worker.context import RunContext
from dueq.worker.executors import Executor
from dueq.worker.hold import wait_until_due
from dueq.worker.leases import RunningRuns
from dueq.worker.outbox import Outbound, Outbox, Settle
from dueq.worker.outcomes import log_finished, log_max_instances, log_missed
from dueq.worker.overlap import OverlapPolicy
from dueq.worker.reporter import Reporter
from dueq.worker.retrying import retry_request
from dueq.worker.runner import Outcome, without_details

__all__ = ["RunHandler"]

log = logging.getLogger(__name__)


class RunHandler:
    """The per-run pipeline after admission; ``handle`` is called by the slot threads."""

    def __init__(
        self,
        *,
        claims: ClaimStore,
        closer: ClaimCloser,
        running: RunningRuns,
        executor: Executor,
        reporter: Reporter,
        outbox: Outbox,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        stopping: threading.Event | None = None,
    ) -> None:
        self._claims = claims
        self._durable = claims.durable
        self._closer = closer
        self._running = running
        self._executor = executor
        self._reporter = reporter
        self._outbox = outbox
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._overlap = OverlapPolicy(
            claim=self._claim,
            release=lambda run_id: call_store(lambda: claims.release(run_id), lease),
            hold=running.add,
            unhold=running.discard,
            cancel=executor.cancel,
            request_cancel=self._request_cancel,
            stopping=stopping or threading.Event(),
        )

    def handle(self, delivery: Delivery) -> None:
        """Start the run unless it became too late; claim it first if the gate did not.

        The gate may hand a run over up to the claim lead before its instant: nothing is
        checked, claimed or started before the instant (``wait_until_due``).
        """
        wait_until_due(delivery)
        if delivery.claimed is not None:
            self._start_claimed(delivery, delivery.claimed)
            return
        try:
            self._claim_and_start(delivery)
        except StoreUnavailable as exc:
            # Not claimed: hand the run back so this or another worker tries again.
            log.error("database unavailable; handing run %s back: %s", delivery.run.run_id, exc)
            self._settle(delivery, Settle.REQUEUE)

    def _start_claimed(self, delivery: Delivery, claimed: Claimed) -> None:
        """A run the gate claimed: it may have waited for this slot past its time."""
        run = delivery.run
        late = checks.too_late(run, self._clock())
        if late is None:
            self._execute(delivery, claimed.taken_over)
            return
        self._closer.release((run.run_id,))
        log_missed(run, late[0])
        event = self._message(delivery, self._reporter.missed(run, delivery.redelivered, *late))
        if self._durable:
            self._outbox.put(Outbound((event,)))  # acked when it was claimed
        else:
            self._settle(delivery, Settle.ACK, event)

    def _claim_and_start(self, delivery: Delivery) -> None:
        """A run whose overlap policy may wait: the checks, then its policy's claim."""
        run = delivery.run
        late = checks.too_late(run, self._clock())
        if late is not None:
            self._miss(delivery, *late)
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
            self._running.add(run.run_id)  # the closer takes it out with the finish
            if self._durable:
                self._settle(delivery, Settle.ACK)  # the claim now guards the run
            self._execute(delivery, result.taken_over)

    def _miss(self, delivery: Delivery, lateness: float, reason: MissedReason) -> None:
        """Report a late unclaimed run missed, unless it is a duplicate (then drop it)."""
        run = delivery.run
        duplicate = call_store(lambda: checks.dedupe(run, self._claims, self._clock()), self._lease)
        if duplicate is not None:
            self._drop(delivery, duplicate)
            return
        log_missed(run, lateness)
        event = self._reporter.missed(run, delivery.redelivered, lateness, reason)
        self._settle(delivery, Settle.ACK, self._message(delivery, event))

    def _execute(self, delivery: Delivery, taken_over: bool) -> None:
        run, redelivered = delivery.run, delivery.redelivered
        context = RunContext.of(
            run, worker_id=self._worker_id, redelivered=redelivered, taken_over=taken_over
        )
        started_at = self._clock()

        def begun() -> tuple[OutgoingMessage]:  # built only if not folded (``folding``)
            event = self._reporter.started(run, redelivered, started_at, taken_over=taken_over)
            return (self._message(delivery, event),)

        self._outbox.put(Outbound(build=begun, start_of=run.run_id))
        try:
            outcome = self._executor.execute(run, delivery.func, context)
        except BaseException:
            # The executor's own failure (a job's is an outcome): stop renewing the claim,
            # so its lease lapses and the reaper hands the run to another worker.
            self._running.discard(run.run_id)
            raise
        log_finished(run, outcome)
        report, run_id = (self._outcome_message(delivery, outcome, taken_over),), run.run_id
        if self._durable:
            # Finish the claim only once the outcome is confirmed: dying in between makes
            # the reaper hand the run over, never leaves it done but unreported.
            finish = functools.partial(self._closer.finish, run_id)
            self._outbox.put(Outbound(report, then=finish, outcome_of=run_id))
        else:
            self._closer.finish(run_id)
            message, generation = delivery.message, delivery.generation
            self._outbox.put(Outbound(report, message, generation, Settle.ACK, outcome_of=run_id))

    def _outcome_message(
        self, delivery: Delivery, outcome: Outcome, taken_over: bool
    ) -> OutgoingMessage:
        """The run's outcome event; without its details if it cannot be sent as it is.

        A last guard: an outcome that raises here is never reported, and with a database
        its claim (so its job's instance slot, fleet-wide) would stay held for good.  The
        runner makes a job's values sendable; this covers whatever it does not foresee.
        """
        run, redelivered = delivery.run, delivery.redelivered
        try:
            retry = retry_request(run, outcome)
            finished = self._reporter.finished(
                run, redelivered, outcome, taken_over=taken_over, retry=retry
            )
            return self._message(delivery, finished)
        except Exception as exc:
            log.exception("the outcome of run %s cannot be sent as it is", run.run_id)
            bare = without_details(outcome, f"its outcome could not be sent: {exc!r}")
            event = self._reporter.finished(run, redelivered, bare, taken_over=taken_over)
            return self._message(delivery, event)

    def _request_cancel(self, run: RunRequest) -> int:
        """Ask the job's other running instances, wherever they run, to stop for ``run``."""
        return call_store(
            lambda: self._claims.request_cancel(run.job_id, run.run_id, self._clock()),
            self._lease,
        )

    def _claim(self, run: RunRequest) -> ClaimResult:
        """Step 4, at the claim store's clock of this moment (a waiting run asks again)."""
        return call_store(
            lambda: checks.claim(run, self._claims, self._worker_id, self._clock(), self._lease),
            self._lease,
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
        return self._reporter.message(event)

    def _settle(self, delivery: Delivery, settle: Settle, *messages: OutgoingMessage) -> None:
        self._outbox.put(Outbound(messages, delivery.message, delivery.generation, settle))
