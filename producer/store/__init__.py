"""Job stores: the port and its memory and SQL implementations."""

from producer.store.base import JobStore, JobUpdate, SubmittedRun
from producer.store.memory import MemoryJobStore
from producer.store.sql import SqlJobStore

__all__ = ["JobStore", "JobUpdate", "MemoryJobStore", "SqlJobStore", "SubmittedRun"]
