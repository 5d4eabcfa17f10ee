"""Run history and worker liveness, written from the events workers report."""

from dueq.producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord
from dueq.producer.history.memory import MemoryRunHistory
from dueq.producer.history.sql import SqlRunHistory

__all__ = [
    "MemoryRunHistory",
    "RunHistory",
    "RunRecord",
    "RunStatus",
    "SqlRunHistory",
    "WorkerRecord",
]
