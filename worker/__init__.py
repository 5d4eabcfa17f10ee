"""The dueq worker: consumes runs from RabbitMQ and executes the allowed job functions."""

from __future__ import annotations

from shared.funcref import job
from worker.registry import NotAllowed, Registry
from worker.settings import ExecutorKind, WorkerSettings
from worker.worker import Worker

__all__ = ["ExecutorKind", "NotAllowed", "Registry", "Worker", "WorkerSettings", "job"]
