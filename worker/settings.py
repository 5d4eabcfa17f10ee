"""The worker's settings: one frozen object, read from arguments or ``DUEQ_*`` at the edge.

``database_url`` is optional here (unlike the scheduler): without it, max_instances and
duplicate detection hold per worker process, and the worker says so when it starts.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from dueq.shared.errors import ConfigError
from dueq.shared.funcref import parse_func_ref
from dueq.shared.settings import DueqSettings, ServiceUrl
from dueq.shared.topology import DEFAULT_QUEUE, validate_name

__all__ = [
    "DEFAULT_CLAIMING_PREFETCH_MULTIPLIER",
    "DEFAULT_PREFETCH_MULTIPLIER",
    "DEFAULT_THREAD_CONCURRENCY",
    "MAX_CLAIM_LEAD",
    "ExecutorKind",
    "WorkerSettings",
    "default_worker_id",
]

# Eight threads keep a typical I/O-bound job mix busy without oversubscribing a small host;
# more is one flag away (--concurrency).
DEFAULT_THREAD_CONCURRENCY = 8

# Runs prefetched per execution slot (see ``WorkerSettings.prefetch_multiplier``), without
# and with a database.
DEFAULT_PREFETCH_MULTIPLIER = 4
DEFAULT_CLAIMING_PREFETCH_MULTIPLIER = 16

# Longest claim lead accepted: beyond it max_instances would no longer be judged at the
# instant in any useful sense, and a slot would wait that long for its run.
MAX_CLAIM_LEAD = timedelta(seconds=1)

# Coroutines are cheap: an asyncio worker can keep many more runs in flight than threads.
DEFAULT_ASYNCIO_CONCURRENCY = 64


class ExecutorKind(StrEnum):
    """Where a job function is called."""

    THREAD = "thread"
    PROCESS = "process"
    ASYNCIO = "asyncio"


def default_worker_id() -> str:
    """``host-pid-random``: unique per process, readable in logs and the claims table."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class WorkerSettings(DueqSettings):
    """Everything a worker process needs; frozen once built."""

    database_url: ServiceUrl | None = None  # type: ignore[assignment]  # optional here
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    # Runs executed at once; 0 picks the executor's default.
    concurrency: int = Field(default=0, ge=0, le=10_000)
    # Prefetch = concurrency x this; 0 picks the default for the worker's mode.  The
    # prefetch window bounds the deliveries not yet acknowledged: without a database a run
    # is acked once its outcome is confirmed, with one once its claim is committed, so the
    # window must cover runs/s x that cycle.  Measured with 8 no-op slots: without a
    # database 4 (Celery's default too) reaches ~3,000 runs/s, 2 half that.  With one, the
    # cycle also holds the claim's round trips and the ack's wait for the broker thread: 4
    # gave 1,600-1,700 runs/s, 8 2,100-2,350 and 16 2,950-3,150, as fast as without a
    # database, hence 16 there.  Claimed runs do not count against it (they are acked; the
    # gate claims only while fewer runs than slots wait), but runs that arrive while every
    # slot is busy do: they may wait in this worker for up to one job's duration while
    # another worker idles, unacknowledged, so keep (multiplier x the longest job) under
    # RabbitMQ's consumer ack timeout (30 min by default), or use 1 for long jobs.
    prefetch_multiplier: int = Field(default=0, ge=0, le=16)
    executor: ExecutorKind = ExecutorKind.THREAD
    # Worker processes under one supervisor (``--processes``): one process uses about one
    # core (one thread runs Python at a time), so N uses N.  Each is a complete worker.
    processes: int = Field(default=1, ge=1, le=256)
    imports: tuple[str, ...] = ()
    # Widens the allowlist from plain public functions to any public callable under the
    # --import modules (classes, Class.method, re-exports); see docs/security.md.
    allow_callables: bool = False
    worker_id: str = Field(default_factory=default_worker_id, min_length=1, max_length=255)
    shutdown_timeout: timedelta = timedelta(seconds=30)
    heartbeat_interval: timedelta = timedelta(seconds=10)
    # A claim counts against max_instances while its lease is live. The worker renews it
    # every third of the lease, so two missed renewals still leave it alive, and a dead
    # worker's slots free within one lease.
    claim_lease: timedelta = timedelta(seconds=30)
    # With a database, how long before its instant a held run is claimed, so the claim's
    # round trips and commit are over when the instant comes (the slot waits for it).
    # max_instances is judged then, up to this much early (a refusal is tried again at the
    # instant).  20 ms covers a claim's p99 on a busy 2-core host over minute-long runs (10
    # ms did not: tests/bench/RESULTS.md, "eighth round"); 0 claims at the instant.
    claim_lead: timedelta = timedelta(milliseconds=20)

    @field_validator("queues")
    @classmethod
    def _valid_queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one queue is needed")
        try:
            return tuple(dict.fromkeys(validate_name("queue", q) for q in value))
        except ConfigError as exc:  # pydantic reports ValueErrors as validation errors
            raise ValueError(str(exc)) from exc

    @field_validator("imports")
    @classmethod
    def _valid_imports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            try:
                module, _ = parse_func_ref(f"{name}:x")
            except ConfigError:
                module = None
            if module != name:
                raise ValueError(f"--import {name!r} is not a dotted module name")
        return value

    @field_validator(
        "shutdown_timeout", "heartbeat_interval", "claim_lease", "claim_lead", mode="before"
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        # DUEQ_CLAIM_LEASE=5 means five seconds, as --claim-lease 5 does.
        if isinstance(value, str) and value.replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator("shutdown_timeout", "heartbeat_interval", "claim_lease")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("claim_lead")
    @classmethod
    def _short_lead(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= MAX_CLAIM_LEAD:
            raise ValueError(f"must be from 0 to {MAX_CLAIM_LEAD.total_seconds():g} seconds")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_concurrency(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("concurrency"):
            kind = str(data.get("executor") or ExecutorKind.THREAD)
            data = {**data, "concurrency": _default_for(kind)}
        return data

    @model_validator(mode="before")
    @classmethod
    def _default_prefetch_multiplier(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("prefetch_multiplier"):
            claiming = bool(data.get("database_url"))
            multiplier = (
                DEFAULT_CLAIMING_PREFETCH_MULTIPLIER if claiming else DEFAULT_PREFETCH_MULTIPLIER
            )
            data = {**data, "prefetch_multiplier": multiplier}
        return data


def _default_for(kind: str) -> int:
    if kind == ExecutorKind.PROCESS:
        return os.cpu_count() or 2
    if kind == ExecutorKind.ASYNCIO:
        return DEFAULT_ASYNCIO_CONCURRENCY
    return DEFAULT_THREAD_CONCURRENCY
