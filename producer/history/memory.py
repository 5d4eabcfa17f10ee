"""In-process run history: for unit tests and the memory store."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dueq.producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord
from dueq.producer.history.executions import Execution, fold
from dueq.producer.history.records import WORKER_INSERT_DEFAULTS, run_values, worker_values
from dueq.shared.protocol import Event

if TYPE_CHECKING:
    from dueq.producer.store.base import SubmittedRun

__all__ = ["MemoryRunHistory"]

log = logging.getLogger(__name__)


class MemoryRunHistory(RunHistory):
    """Run and worker records in dicts behind a lock."""

    def __init__(self, job_exists: Callable[[str], bool] | None = None) -> None:
        """``job_exists`` keeps reports about unknown jobs out (None: accept every job)."""
        self._job_exists = job_exists
        self._lock = threading.Lock()
        # Each run's executions, oldest first.
        self._runs: dict[str, list[RunRecord]] = {}
        self._workers: dict[str, WorkerRecord] = {}

    def add_submitted(self, runs: Sequence[SubmittedRun]) -> None:
        """Record published runs (the memory job store calls this in ``commit_batch``)."""
        with self._lock:
            for run in runs:
                stored = self._runs.get(run.run_id)
                if stored is None:
                    self._runs[run.run_id] = [
                        RunRecord(
                            run_id=run.run_id,
                            job_id=run.job_id,
                            scheduled_at=run.scheduled_at,
                            status=RunStatus.SUBMITTED,
                            published_at=run.published_at,
                        )
                    ]
                elif stored[0].published_at is None:  # a worker reported before the commit
                    stored[0] = dataclasses.replace(stored[0], published_at=run.published_at)

    def record_many(self, events: Sequence[Event], now: datetime) -> None:
        with self._lock:
            for event in events:
                run = run_values(event)
                if run is not None:
                    self._record_run(run)
                worker = worker_values(event, now)
                if worker is not None:
                    self._record_worker(worker)

    def purge(self, before: datetime, limit: int) -> int:
        with self._lock:
            old = sorted(
                (r for group in self._runs.values() for r in group if r.scheduled_at < before),
                key=lambda r: r.scheduled_at,
            )[:limit]
            for record in old:
                group = self._runs[record.run_id]
                group.remove(record)
                if not group:
                    del self._runs[record.run_id]
            return len(old)

    def _record_run(self, values: dict[str, Any]) -> None:
        records = self._runs.get(values["run_id"])
        if records is None:
            if self._job_exists is not None and not self._job_exists(values["job_id"]):
                log.warning("ignoring a report for run %s of unknown job", values["run_id"])
                return
            records = self._runs[values["run_id"]] = []
        executions = [
            Execution(
                execution=r.execution,
                status=r.status.value,
                worker_id=r.worker_id,
                started_at=r.started_at,
                published_at=r.published_at,
            )
            for r in records
        ]
        why = fold(executions, values)
        if why is not None:
            self.conflicts += 1
            log.warning("conflicting outcome: %s", why)
        for execution in executions:
            if not execution.changes:
                continue
            changes = {**execution.changes, "status": RunStatus(execution.changes["status"])}
            if execution.stored:
                index = next(i for i, r in enumerate(records) if r.execution == execution.execution)
                records[index] = dataclasses.replace(records[index], **changes)
            else:
                records.append(RunRecord(**changes))

    def _record_worker(self, values: dict[str, Any]) -> None:
        values = {**values, "queues": tuple(values.get("queues", ()))}
        stored = self._workers.get(values["worker_id"])
        if stored is None:
            base = {**WORKER_INSERT_DEFAULTS, **values}
            base["queues"] = tuple(base["queues"])
            self._workers[values["worker_id"]] = WorkerRecord(**base)
        else:
            if "queues" not in values or not values["queues"]:
                values["queues"] = stored.queues
            self._workers[stored.worker_id] = dataclasses.replace(stored, **values)

    def get_executions(self, run_id: str) -> list[RunRecord]:
        with self._lock:
            return list(self._runs.get(run_id, ()))

    def get_runs(
        self,
        job_id: str | None = None,
        limit: int = 100,
        *,
        statuses: Collection[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RunRecord]:
        with self._lock:
            chosen = [
                r
                for group in self._runs.values()
                for r in group
                if (job_id is None or r.job_id == job_id)
                and (statuses is None or r.status in statuses)
                and (since is None or r.scheduled_at >= since)
                and (until is None or r.scheduled_at <= until)
            ]
        chosen.sort(key=lambda r: (r.scheduled_at, r.attempt, r.execution), reverse=True)
        return chosen[:limit]

    def get_workers(self) -> list[WorkerRecord]:
        with self._lock:
            return sorted(self._workers.values(), key=lambda w: w.worker_id)
