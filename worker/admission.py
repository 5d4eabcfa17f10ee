"""Admitting runs in batches: dedupe → misfire → claim for every delivery the broker
thread hands over at once, then the admitted runs go to the slots.

The broker thread parses what one read of the socket brought and submits it as a batch.
With a database the gate runs in a thread of its own, taking every batch waiting: one
``claim_many`` transaction dedupes, counts and claims them all, where one transaction per
run (each with a pool checkout) bounded a worker to a few hundred runs a second.  Late
runs are only deduped (one ``lookup_many``) and reported missed.  A claimed run joins
``RunningRuns`` at once, so its lease is renewed while it waits for a slot, and is acked
(the claim guards it from then on, as ``ClaimStore.durable`` allows), so the broker's
prefetch window refills while the runs execute; the gate takes a new batch only while fewer
runs than slots wait, so at most concurrency + prefetch runs are claimed ahead of the
slots.  The slot checks the misfire grace (and coalescing) again just before starting a
run (see ``handler``).

Run control fits around the batch: a coalesced run (``checks.coalesced``) is late like a
misfired one; ``skip`` and ``allow_all`` are decided by the batch claim (``allow_all``
claims past ``max_instances``, ``overlap.as_claimed``); a run whose policy may wait
(``buffer_one``, ``buffer_all``, ``cancel_other``) goes to a slot unclaimed and is claimed
there by its policy, per run, as it waits there (``overlap.may_wait``).

With a database the gate also holds the runs that arrive before their time (``hold``):
the broker thread hands every parsed run over at once, and the gate thread wakes the claim
lead (``DUEQ_CLAIM_LEAD``, 20 ms) before the run's instant and claims it then, so the
claim's round trips and its commit are over when the instant comes and the slot, waiting
for the instant, starts the run on it.  The live count of ``max_instances`` is therefore
taken up to the lead before the instant; a run it refuses then is held until its very
instant and claimed again there, so only a refusal made at or after the instant is
reported.  The broker thread's own waits (the confirms of a batch of events, a fsync on a
quorum queue) never delay the release.

With the in-memory store the gate works inline in the broker thread: no I/O, no hop (the
broker thread holds early runs itself).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from dueq.shared.broker import OutgoingMessage
from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import Event, MissedReason
from dueq.worker import checks
from dueq.worker.checks import Delivery
from dueq.worker.claims import ClaimStore, Duplicate, Full
from dueq.worker.claims.outage import call_store
from dueq.worker.closer import ClaimCloser
from dueq.worker.hold import HoldQueue
from dueq.worker.leases import RunningRuns
from dueq.worker.outbox import Outbound, Outbox, Settle
from dueq.worker.outcomes import log_max_instances, log_missed
from dueq.worker.overlap import as_claimed, may_wait
from dueq.worker.reporter import Reporter
from dueq.worker.slots import SlotPool

__all__ = ["Gate"]

log = logging.getLogger(__name__)

# Most runs claimed in one transaction: a full prefetch of a big worker in one go, while
# the statements (IN lists, multi-row INSERT) stay small.
MAX_BATCH = 1000
# How often a gate waiting for free slots looks whether it is being closed.
_ROOM_POLL_S = 0.1


class Gate:
    """Takes batches of parsed deliveries; claims them; submits the admitted to slots."""

    def __init__(
        self,
        *,
        claims: ClaimStore,
        reporter: Reporter,
        outbox: Outbox,
        slots: SlotPool,
        running: RunningRuns,
        closer: ClaimCloser,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        claim_lead: timedelta = timedelta(0),
    ) -> None:
        self._claims = claims
        self._reporter = reporter
        self._outbox = outbox
        self._slots = slots
        self._running = running
        self._closer = closer
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._threaded = claims.durable
        # Submitted and not yet taken by the gate thread, released the claim lead early.
        self._queue = HoldQueue(lead=claim_lead.total_seconds())
        self._thread: threading.Thread | None = None
        self._admitting = 0  # deliveries submitted and not yet decided
        self._count_lock = threading.Lock()
        self._closing = False

    @property
    def pending(self) -> int:
        """Deliveries handed over and not yet admitted, reported or handed back."""
        return self._admitting

    @property
    def holds_early(self) -> bool:
        """True if ``submit`` takes runs before their time and claims each at its time."""
        return self._threaded

    def seconds_to_release(self) -> float | None:
        """How long until the next run the gate holds is due (0: due), None if none."""
        return self._queue.seconds_to_next()

    def start(self) -> None:
        """Start the admission thread (durable stores only).

        One thread: claims one after the other batch the runs that came due meanwhile (a
        claim costs about 1 ms of CPU whatever its size).  Two, a second claim starting
        beside one in flight for over 5 ms, was measured against it at 1,000 jobs/s on 2
        cores (30 s runs, alternating): start lag p99 50-117 ms with two against 42-48 ms
        with one, p50 18.5-21 against 16.4-18.2 ms, the same runs/s; four were worse still
        (p99 ~96 ms): claims at once contend for the GIL and the database.  A claim waiting
        on a job lock that another worker holds (one short transaction) delays the next.
        """
        if self._threaded:
            self._thread = threading.Thread(target=self._loop, name="dueq-gate", daemon=True)
            self._thread.start()

    def submit(self, batch: list[Delivery]) -> None:
        """Admit ``batch`` (broker thread): at once, or in the admission threads, each
        run once it is due (``holds_early``)."""
        if not batch:
            return
        if not self._threaded:
            self._admit(batch)
            return
        self._count(len(batch))
        self._queue.put_all(batch)

    def take_back(self) -> list[Delivery]:
        """The unstarted deliveries the broker will give again: the unclaimed ones (in the
        gate, or waiting for a slot to claim them), and (without a database) the claimed
        ones, whose claims are released.

        With a database a claimed run was acked with its claim, so it stays queued and a
        slot starts it, even during a drain (at most concurrency + prefetch of them).
        Called after a lost connection and when stopping.
        """
        back = self._take_waiting()
        claimed = []
        for delivery in self._slots.take_pending():
            if delivery.claimed is None or not self._threaded:
                back.append(delivery)
            if delivery.claimed is not None:
                claimed.append(delivery)
        if self._threaded:
            for delivery in claimed:
                self._slots.submit(delivery)  # acked: ours to start
        elif claimed:
            self._closer.release(d.run.run_id for d in claimed)
        return back

    def close(self) -> list[Delivery]:
        """Stop admitting (after the batch in hand) and take back everything unstarted."""
        self._closing = True
        self._queue.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.take_back()

    def _count(self, change: int) -> None:
        with self._count_lock:
            self._admitting += change

    def _take_waiting(self) -> list[Delivery]:
        taken = self._queue.take_all()
        self._count(-len(taken))
        return taken

    def _loop(self) -> None:
        while True:
            batch = self._queue.wait_due(MAX_BATCH)
            if batch is None:
                return
            self._wait_for_room()
            if self._closing:
                self._queue.put_all(batch)  # unclaimed: ``close`` hands it back
                return
            self._admit_guarded(batch + self._queue.release_due(MAX_BATCH - len(batch)))

    def _admit_guarded(self, batch: list[Delivery]) -> None:
        try:
            self._admit(batch)
        except Exception:  # a last guard: the gate must keep admitting
            log.exception("unexpected error admitting %d runs; handing them back", len(batch))
            for delivery in batch:
                self._settle(delivery, Settle.REQUEUE)
        finally:
            self._count(-len(batch))

    def _wait_for_room(self) -> None:
        """Take a new batch only while fewer runs than slots wait for one.

        Claimed runs are acked, so the broker's prefetch no longer bounds them: this does
        (with the batch, itself at most one prefetch window, on top).
        """
        while not self._slots.wait_for_room(self._slots.size, _ROOM_POLL_S):
            if self._closing:
                return

    # -- the checks, for a batch ----------------------------------------------------

    def _admit(self, batch: Sequence[Delivery]) -> None:
        now = self._clock()
        lateness = {id(d): checks.too_late(d.run, now) for d in batch}
        late = {key: value for key, value in lateness.items() if value is not None}
        on_time = [d for d in batch if id(d) not in late]
        to_claim = [d for d in on_time if not may_wait(d.run)]
        if to_claim:
            self._claim(to_claim, now)
        for delivery in on_time:
            if may_wait(delivery.run):
                self._slots.submit(delivery)  # unclaimed: its policy claims in the slot
        if late:
            self._miss([d for d in batch if id(d) in late], late, now)

    def _claim(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        runs = [as_claimed(d.run) for d in deliveries]
        try:
            results = call_store(
                lambda: self._claims.claim_many(runs, self._worker_id, now, self._lease),
                self._lease,
            )
        except StoreUnavailable as exc:
            # Nothing was claimed: hand the runs back so this or another worker tries again.
            log.error("database unavailable; handing %d run(s) back: %s", len(runs), exc)
            for delivery in deliveries:
                self._settle(delivery, Settle.REQUEUE)
            return
        admitted, before_instant = [], []
        for delivery, result in zip(deliveries, results, strict=True):
            if isinstance(result, Duplicate):
                self._drop(delivery, result)
            elif isinstance(result, Full) and self._queue.is_early(delivery):
                before_instant.append(delivery)
            elif isinstance(result, Full):
                log_max_instances(delivery.run, result.running)
                event = self._reporter.max_instances(
                    delivery.run, delivery.redelivered, result.running
                )
                self._settle(delivery, Settle.ACK, self._message(delivery, event))
            else:
                admitted.append(dataclasses.replace(delivery, claimed=result))
        if before_instant:
            self._claim_again_at_instant(before_instant)
        self._running.add_many(d.run.run_id for d in admitted)
        for delivery in admitted:
            if self._threaded:
                # The claim now guards the run (a dead worker's lapses and the reaper
                # republishes it): ack now, so the broker's window refills at once.
                self._settle(delivery, Settle.ACK)
            self._slots.submit(delivery)

    def _claim_again_at_instant(self, deliveries: Sequence[Delivery]) -> None:
        """Hold runs an early claim found at ``max_instances`` until their instant: an
        instance that frees itself within the claim lead is still theirs."""
        log.debug("%d run(s) at max_instances before their instant; claiming again at it",
                  len(deliveries))  # fmt: skip
        self._count(len(deliveries))  # undecided again; ``_admit_guarded`` counts them off
        self._queue.put_at_instant(deliveries)

    def _miss(
        self,
        deliveries: Sequence[Delivery],
        late: dict[int, tuple[float, MissedReason]],
        now: datetime,
    ) -> None:
        ids = [d.run.run_id for d in deliveries]
        try:
            duplicates = call_store(lambda: self._claims.lookup_many(ids, now), self._lease)
        except StoreUnavailable as exc:
            log.error("database unavailable; handing %d run(s) back: %s", len(ids), exc)
            for delivery in deliveries:
                self._settle(delivery, Settle.REQUEUE)
            return
        for delivery in deliveries:
            duplicate = duplicates.get(delivery.run.run_id)
            if duplicate is not None:
                self._drop(delivery, duplicate)
                continue
            lateness, reason = late[id(delivery)]
            log_missed(delivery.run, lateness)
            event = self._reporter.missed(delivery.run, delivery.redelivered, lateness, reason)
            self._settle(delivery, Settle.ACK, self._message(delivery, event))

    def _drop(self, delivery: Delivery, duplicate: Duplicate) -> None:
        log.info(
            "dropping duplicate delivery of run %s (job %s, already %s)",
            delivery.run.run_id,
            delivery.run.job_id,
            duplicate.status.value,
        )
        self._settle(delivery, Settle.ACK)

    def _message(self, delivery: Delivery, event: Event) -> OutgoingMessage:
        return self._reporter.message(event)  # never reply_to: events go to the events queue

    def _settle(self, delivery: Delivery, settle: Settle, *messages: OutgoingMessage) -> None:
        self._outbox.put(Outbound(messages, delivery.message, delivery.generation, settle))
