"""Claim stores: instance slots and duplicate detection (see ``base.ClaimStore``)."""

from worker.claims.base import (
    Claimed,
    ClaimResult,
    ClaimStatus,
    ClaimStore,
    Duplicate,
    Expired,
    Full,
)
from worker.claims.memory import MemoryClaimStore
from worker.claims.sql import SqlClaimStore

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
