"""The leader lease: which scheduler may publish, fenced by a rising epoch."""

from producer.leader.base import LEADER_NAME, LeaderLease, Lease, LeaseLost
from producer.leader.memory import MemoryLeaderLease
from producer.leader.sql import SqlLeaderLease

__all__ = [
    "LEADER_NAME",
    "LeaderLease",
    "Lease",
    "LeaseLost",
    "MemoryLeaderLease",
    "SqlLeaderLease",
]
