"""Job stores: the port and its memory and SQL implementations."""

from dueq.producer.store.base import JobStore, JobUpdate, SubmittedRun
from dueq.producer.store.memory import MemoryJobStore
from dueq.producer.store.sql import SqlJobStore

__all__ = ["JobStore", "JobUpdate", "MemoryJobStore", "SqlJobStore", "SubmittedRun"]
