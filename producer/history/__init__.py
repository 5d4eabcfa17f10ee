"""Run history and worker liveness, written from the events workers report.

The names load on first use (``lazy_exports``): reading runs from SQL does not build the
memory history, and the record types alone load no event model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dueq.shared.lazyexports import lazy_exports

# Where each name lives; ``__all__`` and the type checker's imports below list the same
# names (a unit test holds them together).
_PUBLIC: dict[str, str] = {
    "RunHistory": "dueq.producer.history.base",
    "RunRecord": "dueq.producer.history.base",
    "RunStatus": "dueq.producer.history.base",
    "WorkerRecord": "dueq.producer.history.base",
    "MemoryRunHistory": "dueq.producer.history.memory",
    "SqlRunHistory": "dueq.producer.history.sql",
}

__all__ = [
    "MemoryRunHistory",
    "RunHistory",
    "RunRecord",
    "RunStatus",
    "SqlRunHistory",
    "WorkerRecord",
]

__getattr__, __dir__ = lazy_exports(globals(), _PUBLIC)

if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
    from dueq.producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord
    from dueq.producer.history.memory import MemoryRunHistory
    from dueq.producer.history.sql import SqlRunHistory
