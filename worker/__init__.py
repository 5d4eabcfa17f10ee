"""The dueq worker: consumes runs from RabbitMQ and executes the allowed job functions."""

from __future__ import annotations

from dueq.shared.funcref import job
from dueq.worker.registry import NotAllowed, Registry
from dueq.worker.settings import ExecutorKind, WorkerSettings
from dueq.worker.worker import Worker

__all__ = ["ExecutorKind", "NotAllowed", "Registry", "Worker", "WorkerSettings", "job"]
