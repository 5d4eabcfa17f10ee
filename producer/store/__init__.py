"""Job stores: the port and its memory and SQL implementations.

The names load on first use (``lazy_exports``): reading through the SQL store loads
neither the memory store nor the run history it keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dueq.shared.lazyexports import lazy_exports

# Where each name lives; ``__all__`` and the type checker's imports below list the same
# names (a unit test holds them together).
_PUBLIC: dict[str, str] = {
    "JobStore": "dueq.producer.store.base",
    "JobUpdate": "dueq.producer.store.base",
    "SubmittedRun": "dueq.producer.store.base",
    "MemoryJobStore": "dueq.producer.store.memory",
    "SqlJobStore": "dueq.producer.store.sql",
}

__all__ = ["JobStore", "JobUpdate", "MemoryJobStore", "SqlJobStore", "SubmittedRun"]

__getattr__, __dir__ = lazy_exports(globals(), _PUBLIC)

if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
    from dueq.producer.store.base import JobStore, JobUpdate, SubmittedRun
    from dueq.producer.store.memory import MemoryJobStore
    from dueq.producer.store.sql import SqlJobStore
