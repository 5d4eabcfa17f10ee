"""The port: what happened to each run, and which workers are alive.

Events arrive at least once and in any order (a worker's ``job_started`` may be redelivered
after its ``job_executed``), so recording is idempotent and a status only ever moves
forward: submitted -> started (-> lost) -> a final outcome.  A run executed more than once
(taken over after its worker died) has a row per execution (``producer.history.executions``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dueq.shared.protocol import Event

__all__ = ["RunHistory", "RunRecord", "RunStatus", "WorkerRecord", "status_rank"]


class RunStatus(StrEnum):
    """The ``status`` column of ``dueq_runs``."""

    SUBMITTED = "submitted"
    STARTED = "started"
    EXECUTED = "executed"
    ERROR = "error"
    MISSED = "missed"
    MAX_INSTANCES = "max_instances"
    REJECTED = "rejected"
    # Started, then its worker stopped reporting and the run was executed again elsewhere.
    LOST = "lost"


# submitted < started < lost < any outcome; the first outcome recorded is kept.  A lost
# execution still takes its outcome if its worker reports after all.
_RANK = {RunStatus.SUBMITTED: 0, RunStatus.STARTED: 1, RunStatus.LOST: 2}
_FINAL_RANK = 3


def status_rank(status: str) -> int:
    """How far along a run with ``status`` is; a record is only replaced by a higher rank."""
    return _RANK.get(RunStatus(status), _FINAL_RANK)


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One row of run history (``dueq_runs``): one execution of one attempt of a run."""

    run_id: str
    job_id: str
    scheduled_at: datetime
    status: RunStatus
    published_at: datetime | None = None
    worker_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    lateness_s: float | None = None
    retval: Any = None
    exception_type: str | None = None
    exception_message: str | None = None
    traceback: str | None = None
    redelivered: bool = False
    attempt: int = 1
    # 1 for the run's first execution; n when it was executed again (taken over) n-1 times.
    execution: int = 1


@dataclass(frozen=True, kw_only=True)
class WorkerRecord:
    """One row of ``dueq_workers``: a worker as last heard of."""

    worker_id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    running: int
    status: str
    started_at: datetime | None
    last_seen_at: datetime


class RunHistory(ABC):
    """Records events; reads history back for the API and tests.

    Raises ``StoreUnavailable`` when the database cannot be reached (transient).
    ``conflicts`` counts outcomes that contradicted one already recorded (each is logged
    as a warning): a forged or duplicated report, kept out of the history but visible.
    """

    conflicts: int = 0

    def record(self, event: Event, now: datetime) -> None:
        """Apply one event (see ``record_many``)."""
        self.record_many([event], now)

    @abstractmethod
    def record_many(self, events: Sequence[Event], now: datetime) -> None:
        """Apply ``events`` together: upsert the runs they are about and the workers they
        come from, all or nothing.

        Idempotent; never moves an execution's status backwards, whatever the order of the
        events within or across calls.  An event of a new execution (another worker
        started the run) adds a row, and marks a still-started older one ``lost``.
        Events without a run id (a ``job_rejected`` for an unreadable message) change no
        run.  An event whose run id is not ``make_run_id(job_id, scheduled_at)``, or that
        names a run not yet recorded of a job that does not exist, changes nothing either
        (no ghost runs).  The first final outcome of an execution is kept; a contradicting
        later one is logged and counted in ``conflicts``.
        """

    @abstractmethod
    def get_executions(self, run_id: str) -> list[RunRecord]:
        """Every execution of one run, oldest first (empty if the run is unknown)."""

    def get_run(self, run_id: str) -> RunRecord | None:
        """The newest execution of one run, or None."""
        executions = self.get_executions(run_id)
        return executions[-1] if executions else None

    @abstractmethod
    def get_runs(
        self,
        job_id: str | None = None,
        limit: int = 100,
        *,
        statuses: Collection[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RunRecord]:
        """Run rows (one per execution), newest ``scheduled_at`` first (a run's newest
        attempt and execution first), optionally of one job, in ``statuses``, and
        scheduled within ``since``..``until`` (both inclusive)."""

    @abstractmethod
    def get_workers(self) -> list[WorkerRecord]:
        """Every worker ever heard of, by id."""

    @abstractmethod
    def purge(self, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` run rows scheduled before ``before``; return how many.

        Oldest first, in one short transaction, so retention can call it in a loop without
        holding locks that recording would wait for.  Workers are not touched.
        """
