"""Which execution of a run an event is about: the rules every RunHistory shares.

A run (one attempt) can execute more than once: its worker dies mid-run, the claim lapses
and another worker runs it again (``taken_over``), or the broker redelivers it.  Each
execution is a row of its own, numbered 1, 2, ... in the order they are recorded, so the
history shows the one that was lost beside the one that finished.

Events carry no execution number (no consumer has to count), so an event is matched to an
execution by its worker and times:

* a ``job_started`` belongs to its worker's newest execution if that one started at or
  after it (the same start, or the outcome of that start recorded first: a worker stamps
  the outcome's ``started_at`` just after its ``job_started``); otherwise it opens a new
  execution, even after a final outcome, because the job really started again;
* an ``executed``/``error`` outcome belongs to its worker's newest execution; a worker
  with none opens one, unless the run already has a final outcome (then it contradicts
  it: a conflict, as before executions);
* a ``missed``/``max_instances``/``rejected`` verdict is about a delivery that never ran:
  it fills a run still ``submitted``, repeats a verdict already recorded, conflicts with a
  final outcome, or opens a new row.

Opening a new execution while an older one is still ``started`` means that one's worker
stopped reporting and the run went elsewhere: the older one becomes ``lost``.  A lost
execution whose outcome arrives after all (its worker was only cut off) takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dueq.producer.history.base import RunStatus, status_rank

__all__ = ["Execution", "fold"]

_FINAL = status_rank(RunStatus.EXECUTED)
_RAN = {RunStatus.EXECUTED.value, RunStatus.ERROR.value}


@dataclass(kw_only=True)
class Execution:
    """One row of a run as the rules see it; ``changes`` holds the columns to write."""

    execution: int
    status: str
    worker_id: str | None = None
    started_at: datetime | None = None
    published_at: datetime | None = None
    stored: bool = True
    changes: dict[str, Any] = field(default_factory=dict)

    def apply(self, values: dict[str, Any]) -> None:
        """Take ``values`` (an event's columns) as this row's new state."""
        self.changes.update(values)
        self.changes["execution"] = self.execution
        self.status = values["status"]
        self.worker_id = values.get("worker_id", self.worker_id)
        if self.started_at is None:
            self.started_at = values.get("started_at")
        else:  # the job_started's time stays: a repeat of that event must find this row
            self.changes["started_at"] = self.started_at


def fold(executions: list[Execution], values: dict[str, Any]) -> str | None:
    """Apply one event's ``values`` to a run's ``executions`` (oldest first, changed in
    place, new ones appended); return why it contradicts a recorded outcome, or None."""
    status = values["status"]
    target = _match(executions, values)
    if target is not None:
        return _advance(target, values)
    if status != RunStatus.STARTED.value and _finished(executions):
        held = next(e for e in reversed(executions) if status_rank(e.status) >= _FINAL)
        return _conflict(held, values)
    if executions and executions[-1].status == RunStatus.SUBMITTED.value:
        executions[-1].apply(values)
        return None
    _open(executions, values)
    return None


def _match(executions: list[Execution], values: dict[str, Any]) -> Execution | None:
    status, worker = values["status"], values.get("worker_id")
    own = [e for e in executions if e.worker_id == worker]
    if not own:
        return None
    newest = own[-1]
    if status == RunStatus.STARTED.value:
        started = values.get("started_at")
        same = started is None or (newest.started_at is not None and newest.started_at >= started)
        return newest if same else None
    if status in _RAN:
        return newest
    # A verdict on a delivery: only a repeat of the same verdict is the same row.
    return newest if newest.status == status else None


def _advance(target: Execution, values: dict[str, Any]) -> str | None:
    why = _conflict(target, values)
    if why is None and status_rank(values["status"]) > status_rank(target.status):
        target.apply(values)
    return why


def _open(executions: list[Execution], values: dict[str, Any]) -> None:
    number = max((e.execution for e in executions), default=0) + 1
    for older in executions:
        if older.status == RunStatus.STARTED.value:
            older.status = RunStatus.LOST.value
            older.changes.update(
                status=RunStatus.LOST.value,
                execution=older.execution,
                exception_message=(
                    f"lost: worker {older.worker_id} stopped reporting; run again as "
                    f"execution {number} by worker {values.get('worker_id')}"
                ),
            )
    published = executions[-1].published_at if executions else None
    fresh = Execution(execution=number, status=values["status"], stored=False)
    fresh.apply({"published_at": published, **values})
    executions.append(fresh)


def _finished(executions: list[Execution]) -> bool:
    return any(status_rank(e.status) >= _FINAL for e in executions)


def _conflict(held: Execution, values: dict[str, Any]) -> str | None:
    """Why ``values`` contradicts ``held``'s final outcome (the first is kept), or None.

    A redelivered copy of the same report is no conflict; another status, or the same
    status from another worker, is.
    """
    if status_rank(held.status) < _FINAL or status_rank(values["status"]) < _FINAL:
        return None
    if values["status"] == held.status and values.get("worker_id") == held.worker_id:
        return None
    return (
        f"run {values['run_id']} of job {values['job_id']!r} is already {held.status} "
        f"(worker {held.worker_id}); kept it and ignored a later {values['status']} "
        f"from worker {values.get('worker_id')}"
    )
