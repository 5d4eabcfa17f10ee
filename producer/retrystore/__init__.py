"""Retries waiting for their backoff: the port and its memory and SQL implementations."""

from __future__ import annotations

from dueq.producer.retrystore.base import PendingRetry, RetryStore
from dueq.producer.retrystore.memory import MemoryRetryStore
from dueq.producer.retrystore.sql import SqlRetryStore

__all__ = ["MemoryRetryStore", "PendingRetry", "RetryStore", "SqlRetryStore"]
