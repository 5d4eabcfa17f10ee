"""One tick of the scheduling loop: lease, due batch, publish, commit, events.

Publish-then-commit: runs are confirmed by the broker before the store moves the jobs on,
and each run's id is derived from (job id, scheduled time).  A crash in between makes the
next leader publish the same runs with the same ids (workers drop the duplicates); it
never loses one.  The commit re-checks the lease epoch in its own transaction, so a leader
that stalled past its lease cannot overwrite its successor's progress.

Runs due within ``lookahead_seconds`` are published ahead of their time and held by the
workers until it comes (``worker.hold``, docs/dispatch.md): the tick plans up to that
horizon instead of up to now, and the loop sleeps until the next run has been in the window
for ``_GATHER``, so a steady stream goes out in small batches (each run at least the window
minus 25 ms early) instead of one tick (a confirm and a commit) per run.

During a burst (full batches) the loop is a two-stage pipeline: each tick fetches, plans
and sends the next batch while the broker confirms the previous one, and only then waits
for those confirms and commits them.  The next fetch skips the jobs of the batch in flight,
whose new run times are not committed yet.  The confirmed batch's commit then runs on a
helper thread (``producer.committing``) while the next tick fetches, plans and sends, and
that fetch skips its jobs too.  While batches keep coming back full, each one
is larger than the last (``_BURST_GROWTH``), up to ``_BURST_GROWTH_CAP`` times
``batch_size``: a tick's round trips (due query, confirms, the commit's statements and
fsync) are paid per batch, and a 10k burst in 500s paid them twenty times.  The first
batch of a burst is still ``batch_size``, so its first runs go out as early as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dueq.producer.clock import Clock, utc_now
from dueq.producer.committing import BackgroundCommit
from dueq.producer.job import Job
from dueq.producer.leader.base import Lease, LeaseLost
from dueq.producer.leadership import Leadership
from dueq.producer.listeners import SchedulerEvent
from dueq.producer.planner import Batch, plan_batch
from dueq.producer.publisher import RunPublisher, SentRuns
from dueq.producer.retrystore import RetryStore
from dueq.producer.settings import SchedulerSettings
from dueq.producer.store.base import JobStore, SubmittedRun
from dueq.shared.metrics import NO_METRICS, Metrics
from dueq.shared.protocol.runbytes import EncodedRun

__all__ = ["AfterPublish", "SchedulingLoop", "TickResult"]

logger = logging.getLogger(__name__)

# While a burst's batches come back full, each is this many times the last, up to
# _BURST_GROWTH_CAP times ``batch_size``: 500, 2,000, 8,000 by default, so 10k due runs go
# out in 3 ticks instead of 20.  Alternated on the shared 2-core host (10k one-shot burst,
# PostgreSQL, 2 bare workers, load 4-6), publish span: fixed batches of 500 3.4-4.0 s;
# doubling up to 4,000: 2.3-4.1 s; x4 up to 8,000: 0.9-3.5 s, better in each pair.
# Bounded, because the batches in flight are what a crash between publish and commit
# sends again (same run ids, deduplicated) and what the loop holds in memory.
_BURST_GROWTH = 4
_BURST_GROWTH_CAP = 16

# A tick publishes the runs that entered the look-ahead window within this long (at most
# half the window): the loop wakes this much after the next run entered it.  Waking as each
# run entered the window cost a tick (a due query, a confirm, a commit) per run: at 200
# jobs/s the loop thread used 1 ms of CPU per run.  Half the window (25 runs a tick at 200
# jobs/s) saved more, but left half the slack for a loaded scheduler: at 1,000 jobs/s on
# 2 busy cores, start lag p99 497 and 562 ms against 363 and 284 ms with 25 ms, back to back
# (30 s runs; waking as each run entered: 362 and 960 ms, the latter with 1,336 missed).
_GATHER = timedelta(milliseconds=25)

# A batch is planned and written to the broker this many jobs at a time: the broker routes,
# stores and confirms one part while the loop plans the next, instead of idling through
# the planning of a whole 8,000-run batch and then working alone through its confirms.
_SEND_PART = 500

AfterPublish = Callable[[list[EncodedRun]], None]
"""Test hook called between publish and commit (raise or kill the process there)."""


@dataclass(frozen=True)
class _InFlight:
    """A planned batch whose runs were sent and which is not committed yet."""

    batch: Batch
    sent: tuple[SentRuns, ...]  # one per part written (``_SEND_PART``), in order
    lease: Lease
    job_ids: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class TickResult:
    """What a tick did and when the next one is due."""

    wake_at: datetime
    published: int
    leader: bool
    more: bool = False
    """The batch was full: more runs may be due, the loop is in a burst."""


class SchedulingLoop:
    """The scheduler's work, one ``tick()`` at a time (the runner provides the sleeping)."""

    def __init__(
        self,
        *,
        store: JobStore,
        leadership: Leadership,
        publisher: RunPublisher,
        settings: SchedulerSettings,
        emit: Callable[[SchedulerEvent], None],
        clock: Clock = utc_now,
        after_publish: AfterPublish | None = None,
        metrics: Metrics = NO_METRICS,
        retries: RetryStore | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._retries = retries
        # The earliest pending retry or backfilled run, as read at the last tick: one
        # query per tick, and the due ones are fetched only when one is due.
        self._retry_due: datetime | None = None
        self._leadership = leadership
        self._publisher = publisher
        self._settings = settings
        self._emit = emit
        self._clock = clock
        self._after_publish = after_publish
        self._max_sleep = timedelta(seconds=settings.max_sleep_seconds)
        self._lookahead = timedelta(seconds=settings.lookahead_seconds)
        # How far ahead of the next run's time the loop wakes (see ``_GATHER``).
        self._wake_ahead = self._lookahead - min(_GATHER, self._lookahead / 2)
        self._in_flight: _InFlight | None = None
        self._committing: BackgroundCommit[_InFlight] | None = None
        self._limit = settings.batch_size  # the next fetch's size: grows during a burst

    def tick(self) -> TickResult:
        """Publish one batch of due runs if this process leads; say when to tick again.

        A full batch means more may be due: the result then asks for an immediate tick,
        and the batch stays in flight (sent, not yet confirmed and committed) until that
        tick has sent the next one, then commits on a helper thread during the tick after.
        Raises ``StoreUnavailable``/``BrokerUnavailable`` (transient), ``PublishError`` and
        ``LeaseLost`` (also when they ended a background commit) for the runner to handle;
        the uncommitted batches are then dropped, so their jobs are published again (same
        run ids) by the next tick or the next leader.
        """
        try:
            return self._tick()
        except BaseException:
            self._reset()
            raise

    def drain(self) -> None:
        """Commit the batch being committed and the batch in flight, if any (before pausing
        or stopping).  If either fails, the batch in flight is dropped (published again)."""
        previous, self._in_flight = self._in_flight, None
        self._settle_commit()
        if previous is not None:
            self._finish(previous)

    def _reset(self) -> None:
        """Drop the batch in flight (it is published again, same run ids) and end a burst.

        A commit still running on its thread is waited for: its jobs must not be fetched
        again while it may still commit.  Whether it commits or fails, nothing is lost.
        """
        self._in_flight = None
        self._limit = self._settings.batch_size
        try:
            self._settle_commit()
        except Exception as exc:
            logger.warning("a batch's commit failed (it will be published again): %s", exc)

    def _tick(self) -> TickResult:
        now = self._clock()
        lease = self._leadership.ensure(now)
        if lease is None:
            self._reset()
            return TickResult(wake_at=self._leadership.next_check(now), published=0, leader=False)
        horizon = now + self._lookahead  # runs due by then go out now; workers hold them
        previous, self._in_flight = self._in_flight, None
        exclude = previous.job_ids if previous is not None else frozenset()
        if self._committing is not None:
            exclude |= self._committing.batch.job_ids
        limit = self._limit
        jobs = self._store.get_due_jobs(horizon, limit, exclude=exclude)
        current = self._send(jobs, lease, horizon) if jobs else None
        full = len(jobs) >= limit
        base = self._settings.batch_size
        self._limit = min(limit * _BURST_GROWTH, base * _BURST_GROWTH_CAP) if full else base
        if previous is not None:
            # Its confirms arrived while this batch was fetched and planned.
            self._confirm(previous)
            self._settle_commit()  # one commit at a time, in order
            if full:
                self._committing = BackgroundCommit(previous, self._commit)
            else:
                self._commit(previous)
                self._announce(previous)
        if current is not None:
            if full:
                self._in_flight = current
            else:
                self._finish(current)
        published = 0 if current is None else len(current.batch.runs)
        published += self._publish_retries(lease, now)
        wake_at = now if full else self._next_wake(now)
        return TickResult(wake_at=wake_at, published=published, leader=True, more=full)

    def _send(self, jobs: Sequence[Job], lease: Lease, horizon: datetime) -> _InFlight:
        """Plan the batch and write its runs, part by part, without waiting for confirms."""
        batch = Batch()
        sent: list[SentRuns] = []
        for start in range(0, len(jobs), _SEND_PART):
            part = plan_batch(
                jobs[start : start + _SEND_PART],
                now=horizon,
                epoch=lease.epoch,
                published_at=self._clock(),
                cap=self._settings.max_catchup_runs,
            )
            batch.extend(part)
            if part.runs:
                if not self._leadership.may_publish(self._clock()):
                    raise LeaseLost("the lease is too close to expiry to publish")
                sent.append(self._publisher.send_runs(part.runs))
        return _InFlight(batch, tuple(sent), lease, frozenset(job.id for job in jobs))

    def _finish(self, flight: _InFlight) -> None:
        """Wait for the batch's confirms, then commit it and tell the listeners."""
        self._confirm(flight)
        self._commit(flight)
        self._announce(flight)

    def _confirm(self, flight: _InFlight) -> None:
        """Wait until the broker has confirmed every run of the batch."""
        batch = flight.batch
        if flight.sent:
            for part in flight.sent:
                self._publisher.confirm_runs(part)
            self._metrics.runs_published(batch.runs, self._clock())
            if self._after_publish is not None:
                self._after_publish(list(batch.runs))

    def _commit(self, flight: _InFlight) -> None:
        """Move the batch's jobs on and record its runs (fenced); on any thread."""
        batch = flight.batch
        self._store.commit_batch(
            batch.updates, batch.submitted, lease=flight.lease, now=self._clock()
        )

    def _settle_commit(self) -> None:
        """Wait for the commit running on its thread, if any, then tell the listeners."""
        committing, self._committing = self._committing, None
        if committing is not None:
            self._announce(committing.wait())

    def _announce(self, flight: _InFlight) -> None:
        """A committed batch's events for the listeners, and its log line."""
        batch = flight.batch
        for event in batch.events:
            self._emit(event)
        if batch.runs:
            _log_published(batch.runs)

    def _publish_retries(self, lease: Lease, now: datetime) -> int:
        """Publish retries whose backoff has passed, then remove them (fenced).

        Publish-then-remove, as for due jobs: a crash in between republishes the same run
        ids, which workers drop; a retry is never lost.
        """
        if self._retries is None:
            return 0
        self._retry_due = self._retries.next_due()
        if self._retry_due is None or self._retry_due > now:
            return 0
        due = self._retries.due(now, self._settings.batch_size)
        if not due:
            return 0
        published_at = self._clock()
        requests = [
            EncodedRun.of(
                retry.request.model_copy(
                    update={"published_at": published_at, "epoch": lease.epoch}
                )
            )
            for retry in due
        ]
        if not self._leadership.may_publish(self._clock()):
            raise LeaseLost("the lease is too close to expiry to publish")
        self._publisher.publish_runs(requests)
        if self._after_publish is not None:
            self._after_publish(requests)
        submitted = [
            SubmittedRun(
                run_id=r.run_id, job_id=r.job_id, scheduled_at=r.scheduled_at,
                published_at=published_at,
            )
            for r in requests
        ]  # fmt: skip
        self._store.commit_batch([], submitted, lease=lease, now=self._clock())
        self._retries.published([r.run_id for r in requests], lease=lease, now=self._clock())
        logger.info("published %d pending run(s) (retries, backfill)", len(requests))
        self._retry_due = self._retries.next_due()
        return len(requests)

    def _next_wake(self, now: datetime) -> datetime:
        wake = min(now + self._max_sleep, self._leadership.next_check(now))
        next_due = self._store.get_next_run_time()
        if next_due is not None:
            wake = min(wake, next_due - self._wake_ahead)
        return wake if self._retry_due is None else min(wake, self._retry_due)


# Job ids named in a "published" line; a burst of thousands is summarised by its count.
_NAMED_JOBS = 5


def _log_published(requests: Sequence[EncodedRun]) -> None:
    """One INFO line per published batch: how many runs, of which jobs."""
    job_ids = list(dict.fromkeys(request.job_id for request in requests))
    named = ", ".join(job_ids[:_NAMED_JOBS])
    more = f" and {len(job_ids) - _NAMED_JOBS} more" if len(job_ids) > _NAMED_JOBS else ""
    runs = "run" if len(requests) == 1 else "runs"
    logger.info(
        "published %d %s of %s%s", len(requests), runs, named, more, extra={"runs": len(requests)}
    )
