"""Judging a batch of claims against what a store holds: the rules of ``claim_many``.

A SQL store reads the batch's existing claims and its jobs' live counts under the job
locks, lets ``judge`` decide every run in order, then writes what it decided, all in one
transaction.  Keeping the rules in one pure function means they read (and are tested) the
same whatever the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dueq.shared.protocol import RunRequest
from dueq.worker.claims.base import Claimed, ClaimResult, ClaimStatus, Duplicate, Full

__all__ = ["BatchPlan", "ClaimRow", "judge", "row_duplicate"]


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """The part of a stored claim that decides whether a run is a duplicate."""

    status: str
    lease_expires_at: datetime


@dataclass(slots=True)
class BatchPlan:
    """What ``judge`` decided: a result per run, and the claims to insert or take over."""

    results: list[ClaimResult] = field(default_factory=list)
    inserts: list[RunRequest] = field(default_factory=list)
    takeovers: list[RunRequest] = field(default_factory=list)


def row_duplicate(row: ClaimRow | None, now: datetime) -> Duplicate | None:
    """``Duplicate`` if the stored claim is finished or running under a live lease."""
    if row is None:
        return None
    if row.status == ClaimStatus.FINISHED:
        return Duplicate(ClaimStatus.FINISHED)
    if row.status == ClaimStatus.RUNNING and row.lease_expires_at > now:
        return Duplicate(ClaimStatus.RUNNING)
    return None


def judge(
    runs: Sequence[RunRequest],
    existing: Mapping[str, ClaimRow],
    live: Mapping[str, int],
    now: datetime,
) -> BatchPlan:
    """Decide each run in order, as ``ClaimStore.claim_many`` promises.

    ``existing`` holds the stored claims of the batch's run ids, ``live`` the number of
    running claims with a live lease per job id (both read under the job locks).
    """
    plan = BatchPlan()
    counts = dict(live)
    taken: set[str] = set()
    for run in runs:
        row = existing.get(run.run_id)
        duplicate = (
            Duplicate(ClaimStatus.RUNNING) if run.run_id in taken else row_duplicate(row, now)
        )
        if duplicate is not None:
            plan.results.append(duplicate)
            continue
        running = counts.get(run.job_id, 0)
        if running >= run.max_instances:
            plan.results.append(Full(running))
            continue
        counts[run.job_id] = running + 1
        taken.add(run.run_id)
        (plan.takeovers if row is not None else plan.inserts).append(run)
        plan.results.append(Claimed(taken_over=row is not None))
    return plan
