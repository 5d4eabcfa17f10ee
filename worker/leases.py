"""Keeping claims alive while runs execute, and reaping the claims of dead workers.

Every third of the lease the keeper renews the claims of the runs this worker is
executing.  With a shared database it also looks for running claims whose lease expired
(their worker died or lost the database) and republishes their runs, marked redelivered,
so another worker completes them.  This is what lets a worker ack a run as soon as it is
claimed: the broker's consumer ack timeout never sees a long job, and a crash is still
repaired.

Renewing also carries the fleet's cancel requests (``overlap=cancel_other``): a newer run
on another worker marks the older claims of its job, and the keeper of each one cancels
its run where the executor can (``cancel``), within a third of the lease.

A keeper that itself could not reach the database does not reap for one lease after it
is back: the owners of the claims that lapsed meanwhile were most likely cut off too, and
get that long to renew them (or mark them finished) before anything is handed over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from dueq.shared.broker import OutgoingMessage
from dueq.shared.errors import ProtocolError, StoreUnavailable
from dueq.shared.protocol import CONTENT_TYPE, decode_run
from dueq.shared.signing import HANDOVER_TYPE, Signer
from dueq.shared.topology import Topology
from dueq.worker.claims import ClaimStore, Expired
from dueq.worker.outbox import Outbox
from dueq.worker.overlap import is_buffer_slot

__all__ = ["FINISHED_CLAIM_RETENTION", "LeaseKeeper", "RunningRuns"]

log = logging.getLogger(__name__)

# Finished claims are the fleet's dedupe memory; a day outlasts any scheduler republish
# (seconds) and broker redelivery (minutes) by far, and keeps the table small.
FINISHED_CLAIM_RETENTION = timedelta(days=1)
# How often finished claims past the retention are deleted.
_PURGE_EVERY = timedelta(hours=1)


class RunningRuns:
    """The run ids this worker holds claims for: executing, or claimed and about to start.

    Thread-safe; the lease keeper renews the claims of exactly these runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[str] = set()

    def add(self, run_id: str) -> None:
        """A run started."""
        with self._lock:
            self._ids.add(run_id)

    def add_many(self, run_ids: Iterable[str]) -> None:
        """Runs were claimed (they start as soon as a slot is free)."""
        with self._lock:
            self._ids.update(run_ids)

    def discard(self, run_id: str) -> None:
        """A run ended."""
        with self._lock:
            self._ids.discard(run_id)

    def discard_many(self, run_ids: Iterable[str]) -> None:
        """Runs ended (their claims are finished or released)."""
        with self._lock:
            self._ids.difference_update(run_ids)

    def snapshot(self) -> list[str]:
        """The run ids now."""
        with self._lock:
            return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class LeaseKeeper:
    """A thread that renews this worker's claims and (``reap=True``) reaps expired ones."""

    def __init__(
        self,
        *,
        claims: ClaimStore,
        running: RunningRuns,
        outbox: Outbox,
        topology: Topology,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        reap: bool,
        signer: Signer | None = None,
        cancel: Callable[[str], bool] | None = None,
    ) -> None:
        self._signer = signer
        self._cancel = cancel
        # Runs already asked to stop: each request is acted on (and logged) once.
        self._cancel_seen: set[str] = set()
        self._claims = claims
        self._running = running
        self._outbox = outbox
        self._topology = topology
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._reap = reap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge: datetime | None = None
        self._in_outage = False
        self._reap_not_before: datetime | None = None

    def start(self) -> None:
        """Start renewing (and reaping) every third of the lease."""
        self._thread = threading.Thread(target=self._loop, name="dueq-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (claims of runs still executing then lapse on their own)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        interval = self._lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self.tick()
            except StoreUnavailable as exc:
                log.warning("temporary database error while renewing claims: %s", exc)
            except Exception:  # keep renewing whatever one round did
                log.exception("unexpected error while renewing claims")

    def tick(self) -> None:
        """One round: renew, reap, purge (also called directly by tests)."""
        now = self._clock()
        if self._in_outage:  # the last round could not reach the database
            self._in_outage = False
            self._reap_not_before = now + self._lease
        try:
            self.renew(now)
            if self._reap and (self._reap_not_before is None or now >= self._reap_not_before):
                self.reap(now)
                self._purge(now)
        except StoreUnavailable:
            self._in_outage = True
            raise

    def renew(self, now: datetime) -> None:
        """Extend the leases of the runs executing here."""
        run_ids = self._running.snapshot()
        if not run_ids:
            return
        renewed = self._claims.renew(self._worker_id, run_ids, now + self._lease)
        self._cancel_requested({run_id: by for run_id, by in renewed.items() if by})
        for run_id in set(run_ids) - renewed.keys():
            if run_id in self._running.snapshot():
                log.warning(
                    "the claim of run %s lapsed while it ran here (was the database "
                    "unreachable?); another worker may run it too",
                    run_id,
                )

    def _cancel_requested(self, requests: dict[str, str]) -> None:
        """Cancel the runs a newer run of their job asked to stop, once each."""
        self._cancel_seen.intersection_update(self._running.snapshot())
        for run_id, by in requests.items():
            if run_id in self._cancel_seen:
                continue
            self._cancel_seen.add(run_id)
            if self._cancel is not None and self._cancel(run_id):
                log.info(
                    "cancelled run %s: newer run %s of its job asked (cancel_other)", run_id, by
                )
            else:
                log.warning(
                    "newer run %s asked to cancel run %s (cancel_other), but this executor "
                    "cannot stop it: it runs to its end",
                    by,
                    run_id,
                )

    def reap(self, now: datetime) -> int:
        """Republish the runs whose worker died mid-run; return how many."""
        expired = self._claims.abandon_expired(now, self._lease)
        # A buffer slot is not a run: its waiter died, and its message comes back from
        # the broker; there is nothing to hand over.
        runs = [claim for claim in expired if not is_buffer_slot(claim.run_id)]
        messages = [m for m in map(self._republish, runs) if m is not None]
        if messages:
            self._outbox.send(messages)
        return len(messages)

    def _republish(self, claim: Expired) -> OutgoingMessage | None:
        try:
            run = decode_run(claim.payload.encode())
        except ProtocolError as exc:
            log.error(
                "cannot hand over run %s: its stored payload is invalid (%s)",
                claim.run_id,
                exc.reason,
            )
            return None
        log.warning(
            "run %s of job %s was abandoned by worker %s (lease expired); handing it over",
            run.run_id,
            run.job_id,
            claim.worker_id,
        )
        body = claim.payload.encode()
        # The handover type (signed with the body) is what makes the next worker report
        # the run as redelivered; a header would be anybody's to set.
        signed = self._signer.headers(HANDOVER_TYPE, body) if self._signer is not None else {}
        # Straight to the run queue through the default exchange: the worker's broker user
        # may not publish to the runs exchange (only the scheduler's may; compose/).
        return OutgoingMessage(
            body=body,
            exchange="",
            routing_key=self._topology.run_queue(run.queue),
            message_id=run.run_id,
            correlation_id=run.run_id,
            reply_to=self._topology.events_queue,
            type=HANDOVER_TYPE,
            headers=signed,
            content_type=CONTENT_TYPE,
            persistent=True,
        )

    def _purge(self, now: datetime) -> None:
        if self._last_purge is not None and now - self._last_purge < _PURGE_EVERY:
            return
        self._last_purge = now
        purged = self._claims.purge_finished(now - FINISHED_CLAIM_RETENTION)
        if purged:
            log.info("deleted %d finished claims older than %s", purged, FINISHED_CLAIM_RETENTION)
