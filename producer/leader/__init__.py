"""The leader lease: which scheduler may publish, fenced by a rising epoch.

The names load on first use (``lazy_exports``), so the job store can name ``Lease``
without loading both lease implementations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dueq.shared.lazyexports import lazy_exports

# Where each name lives; ``__all__`` and the type checker's imports below list the same
# names (a unit test holds them together).
_PUBLIC: dict[str, str] = {
    "LEADER_NAME": "dueq.producer.leader.base",
    "LeaderLease": "dueq.producer.leader.base",
    "Lease": "dueq.producer.leader.base",
    "LeaseLost": "dueq.producer.leader.base",
    "MemoryLeaderLease": "dueq.producer.leader.memory",
    "SqlLeaderLease": "dueq.producer.leader.sql",
}

__all__ = [
    "LEADER_NAME",
    "LeaderLease",
    "Lease",
    "LeaseLost",
    "MemoryLeaderLease",
    "SqlLeaderLease",
]

__getattr__, __dir__ = lazy_exports(globals(), _PUBLIC)

if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
    from dueq.producer.leader.base import LEADER_NAME, LeaderLease, Lease, LeaseLost
    from dueq.producer.leader.memory import MemoryLeaderLease
    from dueq.producer.leader.sql import SqlLeaderLease
