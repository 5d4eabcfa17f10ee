"""The claim store port: instance slots and duplicate detection for runs.

A *claim* says "worker W is running run R of job J until its lease expires".  It is how
``max_instances`` holds across a fleet of workers and how a run delivered twice executes
once.  Implementations: ``MemoryClaimStore`` (one process) and ``SqlClaimStore`` (the
``dueq_claims`` table, shared by every worker given the same database).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dueq.shared.protocol import RunRequest

__all__ = [
    "ClaimResult",
    "ClaimStatus",
    "ClaimStore",
    "Claimed",
    "Duplicate",
    "Expired",
    "Full",
]


class ClaimStatus(StrEnum):
    """States of a claim row (the ``status`` column)."""

    RUNNING = "running"
    FINISHED = "finished"
    # Its worker stopped renewing before finishing; the run was handed to another worker.
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class Claimed:
    """The run is ours: execute it, renew the lease while it runs, then ``finish`` it."""

    taken_over: bool = False  # it had been claimed before by a worker that died


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The run is already running (live lease) or finished elsewhere: drop this delivery."""

    status: ClaimStatus


@dataclass(frozen=True, slots=True)
class Full:
    """The job already has ``max_instances`` live claims; ``running`` is how many."""

    running: int


ClaimResult = Claimed | Duplicate | Full


@dataclass(frozen=True, slots=True)
class Expired:
    """A running claim whose lease ran out: its worker died; ``payload`` is the RunRequest."""

    run_id: str
    job_id: str
    worker_id: str
    payload: str


class ClaimStore(ABC):
    """Claims of runs, counted per job against ``max_instances``.

    Every method is safe to call from several threads, and (for shared stores) from
    several processes at once.  Times are aware UTC datetimes passed in by the caller, so
    tests control the clock.
    """

    #: True when claims survive this process (a database): the worker may then ack a run
    #: as soon as it is claimed, because a crash is repaired by the reaper, not by the
    #: broker redelivering.
    durable: bool = False

    @abstractmethod
    def lookup_many(self, run_ids: Sequence[str], now: datetime) -> dict[str, Duplicate]:
        """The ``run_ids`` that are duplicates: finished, or running under a live lease.

        A read for the dedupe step of runs that will not be claimed (too late to start);
        ``claim_many`` dedupes atomically by itself.
        """

    def lookup(self, run_id: str, now: datetime) -> Duplicate | None:
        """``lookup_many`` for one run id."""
        return self.lookup_many([run_id], now).get(run_id)

    @abstractmethod
    def claim_many(
        self, runs: Sequence[RunRequest], worker_id: str, now: datetime, lease: timedelta
    ) -> list[ClaimResult]:
        """Take instance slots for a batch of runs in one atomic step; a result per run.

        The runs are judged in order, as if claimed one after the other:

        - ``Duplicate`` if the run id is finished, or running with a lease live at ``now``
          (this includes an earlier run of the same batch with the same id);
        - else ``Full(n)`` if ``n >= run.max_instances`` claims of ``run.job_id`` are
          running with a live lease, counting those taken earlier in this batch (expired
          and abandoned claims do not count);
        - else the claim is stored as running for ``worker_id`` until ``now + lease`` with
          the RunRequest as payload, and ``Claimed`` is returned (``taken_over`` when an
          expired or abandoned claim of the same run was replaced).

        Concurrent claimers of one job are serialized, so the count cannot be overtaken,
        and the jobs of a batch are locked in one fixed order, so two workers claiming
        batches of the same jobs cannot deadlock.  If the store fails midway nothing of the
        batch is stored (``StoreUnavailable`` is raised).
        """

    def claim(
        self, run: RunRequest, worker_id: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        """``claim_many`` for one run."""
        return self.claim_many([run], worker_id, now, lease)[0]

    @abstractmethod
    def renew(
        self, worker_id: str, run_ids: Sequence[str], until: datetime
    ) -> dict[str, str | None]:
        """Extend the leases of ``worker_id``'s running claims; returns the run ids renewed,
        each with the run that asked it to stop (``request_cancel``), or None.

        A run id missing from the result was taken away (reaped) and must not be counted
        as ours any more.  One statement for all of them: the keeper's one round trip per
        round also carries the fleet's cancel requests.
        """

    @abstractmethod
    def request_cancel(self, job_id: str, by_run_id: str, now: datetime) -> int:
        """Ask the running claims of ``job_id`` (lease live, other than ``by_run_id``) to
        stop, on behalf of the newer run ``by_run_id``; returns how many were asked.

        Only marks them: each holder's lease keeper sees the mark at its next renewal and
        cancels the run where its executor can.  A claim already asked keeps its first
        asker.
        """

    @abstractmethod
    def finish_many(self, run_ids: Sequence[str], now: datetime) -> None:
        """Mark the claims finished: their slots free and later deliveries are duplicates."""

    def finish(self, run_id: str, now: datetime) -> None:
        """``finish_many`` for one run id."""
        self.finish_many([run_id], now)

    @abstractmethod
    def release_many(self, run_ids: Sequence[str]) -> None:
        """Forget running claims whose runs never started (shutdown, lost connection)."""

    def release(self, run_id: str) -> None:
        """``release_many`` for one run id."""
        self.release_many([run_id])

    @abstractmethod
    def abandon_expired(self, now: datetime, lease: timedelta) -> list[Expired]:
        """Mark running claims whose lease expired before ``now`` as abandoned, and return them.

        The caller republishes each payload.  An abandoned claim gets a fresh lease until
        ``now + lease``; if nobody claims the run again within it (the republish was lost),
        the next call returns it again, so a run is never lost between the two steps.
        Each expired claim is returned to exactly one concurrent caller.
        """

    @abstractmethod
    def purge_finished(self, before: datetime) -> int:
        """Delete finished claims older than ``before`` (bounds the dedupe window); count."""

    def close(self) -> None:
        """Release connections (default: nothing to release)."""
        return None
