"""Claim stores: instance slots and duplicate detection (see ``base.ClaimStore``)."""

from dueq.worker.claims.base import (
    Claimed,
    ClaimResult,
    ClaimStatus,
    ClaimStore,
    Duplicate,
    Expired,
    Full,
)
from dueq.worker.claims.memory import MemoryClaimStore
from dueq.worker.claims.sql import SqlClaimStore

__all__ = [
    "ClaimResult",
    "ClaimStatus",
    "ClaimStore",
    "Claimed",
    "Duplicate",
    "Expired",
    "Full",
    "MemoryClaimStore",
    "SqlClaimStore",
]
