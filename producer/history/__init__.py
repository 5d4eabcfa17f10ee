"""Run history and worker liveness, written from the events workers report."""

from producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord
from producer.history.memory import MemoryRunHistory
from producer.history.sql import SqlRunHistory

__all__ = [
    "MemoryRunHistory",
    "RunHistory",
    "RunRecord",
    "RunStatus",
    "SqlRunHistory",
    "WorkerRecord",
]
