"""Mapping between ``Job`` and a ``dueq_jobs`` row (JSON for the trigger and arguments)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from dueq.producer.job import Job
from dueq.shared.protocol import Overlap, RetryPolicy
from dueq.shared.triggers import Trigger, trigger_from_dict

__all__ = [
    "SCHEDULE_COLUMNS",
    "job_to_row",
    "parse_control",
    "parse_trigger",
    "row_to_job",
    "run_control",
]

# Parsed triggers kept by their JSON text: rebuilding one costs ~0.1 ms (validation), which
# dominated fetching a batch of 10k due jobs; triggers are immutable, so sharing is safe.
_TRIGGER_CACHE_SIZE = 4096

# The columns the loop advances; ``update_job(schedule=False)`` leaves them alone.
SCHEDULE_COLUMNS = ("next_run_time", "next_fire_time")


def job_to_row(job: Job, now: datetime) -> dict[str, Any]:
    """The column values of ``job`` (without ``created_at``)."""
    return {
        "id": job.id,
        "name": job.name,
        "func": job.func,
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "trigger": job.trigger.to_dict(),
        "queue": job.queue,
        "misfire_grace_time": job.misfire_grace_time,
        "coalesce": job.coalesce,
        "max_instances": job.max_instances,
        "run_control": run_control(job),
        "next_run_time": job.next_run_time,
        "next_fire_time": job.next_fire_time,
        "updated_at": now,
    }


def row_to_job(row: Any) -> Job:
    """The ``Job`` a row describes (``row`` is any mapping or SQLAlchemy row)."""
    values = row._mapping if hasattr(row, "_mapping") else row
    return Job(
        id=values["id"],
        name=values["name"],
        func=values["func"],
        trigger=parse_trigger(values["trigger"]),
        args=tuple(values["args"]),
        kwargs=dict(values["kwargs"]),
        misfire_grace_time=values["misfire_grace_time"],
        coalesce=bool(values["coalesce"]),
        max_instances=values["max_instances"],
        queue=values["queue"],
        next_run_time=values["next_run_time"],
        next_fire_time=values["next_fire_time"],
        **parse_control(values.get("run_control")),
    )


def run_control(job: Job) -> dict[str, Any] | None:
    """The ``run_control`` column of ``job``: its retry policy and timeout, or NULL."""
    if job.retry is None and job.timeout is None and job.overlap is Overlap.SKIP:
        return None
    retry = None if job.retry is None else job.retry.model_dump(mode="json")
    return {"retry": retry, "timeout": job.timeout, "overlap": job.overlap.value}


def parse_control(stored: Any) -> dict[str, Any]:
    """``Job`` keyword arguments from a stored ``run_control`` (JSON text, parsed, or NULL)."""
    if stored is None:
        return {}
    values = json.loads(stored) if isinstance(stored, str) else stored
    if values is None:  # a JSON null, read as text
        return {}
    retry = values.get("retry")
    return {
        "retry": None if retry is None else RetryPolicy.model_validate(retry),
        "timeout": values.get("timeout"),
        "overlap": Overlap(values.get("overlap", Overlap.SKIP)),
    }


def parse_trigger(stored: Any) -> Trigger:
    """The trigger a stored ``trigger`` column holds (JSON text or parsed), cached by text."""
    text = stored if isinstance(stored, str) else json.dumps(stored, sort_keys=True)
    return _parse_trigger(text)


@lru_cache(maxsize=_TRIGGER_CACHE_SIZE)
def _parse_trigger(text: str) -> Trigger:
    return trigger_from_dict(json.loads(text))
