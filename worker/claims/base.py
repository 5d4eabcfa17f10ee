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
    def lookup(self, run_id: str, now: datetime) -> Duplicate | None:
        """``Duplicate`` if ``run_id`` is finished, or running under a live lease; else None.

        A cheap read for the dedupe step; ``claim`` re-checks atomically.
        """

    @abstractmethod
    def claim(
        self, run: RunRequest, worker_id: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        """Take an instance slot for ``run`` in one atomic step.

        - ``Duplicate`` if ``run.run_id`` is finished, or running with a lease live at ``now``.
        - else ``Full(n)`` if ``n >= run.max_instances`` other claims of ``run.job_id`` are
          running with a live lease (expired and abandoned claims do not count);
        - else the claim is stored as running for ``worker_id`` until ``now + lease`` with
          the RunRequest as payload, and ``Claimed`` is returned (``taken_over`` when an
          expired or abandoned claim of the same run was replaced).

        Concurrent claimers of one job are serialized, so the count cannot be overtaken.
        """

    @abstractmethod
    def renew(self, worker_id: str, run_ids: Sequence[str], until: datetime) -> set[str]:
        """Extend the leases of ``worker_id``'s running claims; returns the run ids renewed.

        A run id missing from the result was taken away (reaped) and must not be counted
        as ours any more.
        """

    @abstractmethod
    def finish(self, run_id: str, now: datetime) -> None:
        """Mark the claim finished: its slot frees and later deliveries are duplicates."""

    @abstractmethod
    def release(self, run_id: str) -> None:
        """Forget a claim whose run never started (shutdown before executing)."""

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
