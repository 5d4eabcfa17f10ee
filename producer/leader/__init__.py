"""The leader lease: which scheduler may publish, fenced by a rising epoch."""

from dueq.producer.leader.base import LEADER_NAME, LeaderLease, Lease, LeaseLost
from dueq.producer.leader.memory import MemoryLeaderLease
from dueq.producer.leader.sql import SqlLeaderLease

__all__ = [
    "LEADER_NAME",
    "LeaderLease",
    "Lease",
    "LeaseLost",
    "MemoryLeaderLease",
    "SqlLeaderLease",
]
