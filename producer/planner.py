"""Turning a batch of due jobs into RunRequests, store updates and listener events.

Pure apart from logging: the loop publishes what this returns, then commits it.  A job
that cannot be planned (a trigger that raises, arguments the protocol refuses) is paused
with an error in the log instead of blocking every batch after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dueq.producer.catchup import RunPlan, Slot, plan_runs
from dueq.producer.job import Job
from dueq.producer.listeners import (
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from dueq.producer.store.base import JobUpdate, SubmittedRun
from dueq.shared.protocol import ARGUMENTS_CHECKED, RunRequest, make_run_id
from dueq.shared.protocol.runbytes import EncodedRun, encode_run

__all__ = ["Batch", "build_request", "encode_request", "plan_batch"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Batch:
    """Everything one batch of due jobs produces."""

    runs: list[EncodedRun] = field(default_factory=list)
    updates: list[JobUpdate] = field(default_factory=list)
    submitted: list[SubmittedRun] = field(default_factory=list)
    events: list[SchedulerEvent] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        """Append ``other``'s runs, updates and events (a batch planned part by part)."""
        self.runs.extend(other.runs)
        self.updates.extend(other.updates)
        self.submitted.extend(other.submitted)
        self.events.extend(other.events)

    @property
    def requests(self) -> list[RunRequest]:
        """The runs as models, decoded from their bytes (for tests and inspection)."""
        return [run.request() for run in self.runs]


def plan_batch(
    jobs: Sequence[Job], *, now: datetime, epoch: int, published_at: datetime, cap: int
) -> Batch:
    """Plan every job of a due batch (see ``producer.catchup`` for the run-times)."""
    batch = Batch()
    for job in jobs:
        try:
            _plan_job(batch, job, now=now, epoch=epoch, published_at=published_at, cap=cap)
        except Exception:
            logger.exception("job %s cannot be scheduled; pausing it", job.id)
            _pause(batch, job)
    return batch


def _plan_job(
    batch: Batch, job: Job, *, now: datetime, epoch: int, published_at: datetime, cap: int
) -> None:
    assert job.next_run_time is not None  # due jobs are never paused
    start = Slot(fire_time=job.next_fire_time or job.next_run_time, run_time=job.next_run_time)
    plan = plan_runs(job.trigger, job.id, start, now, coalesce=job.coalesce, cap=cap)
    if plan.truncated:
        logger.warning(
            "job %s missed more than %d run-times; the rest up to now are skipped", job.id, cap
        )
    following = None if plan.next_slot is None else plan.next_slot.run_time
    requests = [
        encode_request(job, at, epoch=epoch, published_at=published_at, following=following)
        for at in plan.run_times
    ]
    batch.runs.extend(requests)
    batch.submitted.extend(
        SubmittedRun(
            run_id=r.run_id, job_id=job.id, scheduled_at=r.scheduled_at, published_at=published_at
        )
        for r in requests
    )
    batch.updates.append(_update(job, plan))
    if requests:
        batch.events.append(
            JobSubmissionEvent(
                code=EVENT_JOB_SUBMITTED,
                job_id=job.id,
                scheduled_run_times=[r.scheduled_at for r in requests],
                run_ids=[r.run_id for r in requests],
            )
        )
    if plan.next_slot is None:
        batch.events.append(JobEvent(code=EVENT_JOB_REMOVED, job_id=job.id))


def build_request(
    job: Job,
    scheduled_at: datetime,
    *,
    epoch: int,
    published_at: datetime,
    following: datetime | None,
) -> RunRequest:
    """The RunRequest of ``job`` at ``scheduled_at``; ``following`` is its next run-time."""
    values: dict[str, object] = {
        "run_id": make_run_id(job.id, scheduled_at),
        "job_id": job.id,
        "job_name": job.name,
        "func": job.func,
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "scheduled_at": scheduled_at,
        "published_at": published_at,
        "misfire_grace_time": job.misfire_grace_time,
        "max_instances": job.max_instances,
        "queue": job.queue,
        "epoch": epoch,
        "retry": job.retry,
        "timeout": job.timeout,
        "overlap": job.overlap,
    }
    if job.coalesce and following is not None:
        # The worker skips this run if the next one is already due when it arrives: a
        # backlog that queued while no worker took it runs once (docs/run-control.md).
        values["coalesce"] = True
        values["next_scheduled_at"] = following
    # Measuring the arguments again as JSON was a third of the validation cost in a 10k
    # burst; a stored job's arguments were measured when it was added or modified
    # (``producer.jobspec``, which counts more strictly than the protocol does).
    return RunRequest.model_validate(values, context=ARGUMENTS_CHECKED)


def encode_request(
    job: Job,
    scheduled_at: datetime,
    *,
    epoch: int,
    published_at: datetime,
    following: datetime | None,
) -> EncodedRun:
    """``build_request``'s run as wire bytes, without building the model (the burst path).

    ``encode_run`` writes exactly the bytes ``encode(build_request(...))`` would, and
    refuses what the model refuses.
    """
    run_id = make_run_id(job.id, scheduled_at)
    coalesce = job.coalesce and following is not None
    body = encode_run(
        run_id=run_id,
        job_id=job.id,
        job_name=job.name,
        func=job.func,
        args=list(job.args),
        kwargs=dict(job.kwargs),
        scheduled_at=scheduled_at,
        published_at=published_at,
        misfire_grace_time=job.misfire_grace_time,
        max_instances=job.max_instances,
        queue=job.queue,
        epoch=epoch,
        retry=job.retry,
        timeout=job.timeout,
        coalesce=coalesce,
        next_scheduled_at=following if coalesce else None,
        overlap=job.overlap,
    )
    return EncodedRun(
        run_id=run_id,
        job_id=job.id,
        queue=job.queue,
        scheduled_at=scheduled_at,
        published_at=published_at,
        body=body,
    )


def _update(job: Job, plan: RunPlan) -> JobUpdate:
    assert job.next_run_time is not None
    slot = plan.next_slot
    return JobUpdate(
        job_id=job.id,
        seen_next_run_time=job.next_run_time,
        next_run_time=None if slot is None else slot.run_time,
        next_fire_time=None if slot is None else slot.fire_time,
        remove=slot is None,
    )


def _pause(batch: Batch, job: Job) -> None:
    assert job.next_run_time is not None
    batch.updates.append(
        JobUpdate(
            job_id=job.id,
            seen_next_run_time=job.next_run_time,
            next_run_time=None,
            next_fire_time=None,
        )
    )
