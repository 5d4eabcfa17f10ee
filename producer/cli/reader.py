"""Read-only access for the commands that only look: the stores, without a ``Scheduler``.

``dueq jobs list``, ``jobs show``, ``runs`` and ``workers`` read the job store and the run
history.  Building a ``Scheduler`` for that imported its whole API (planner, backfill,
retries, listeners, leadership) for nothing: a third of the time a person waited for
``dueq jobs list``.  A ``StoreReader`` opens the database as the scheduler does (the schema
upgraded if it is behind, which a database at the newest revision checks with one query
and no Alembic) and imports each store the first time it is asked for, so listing jobs
loads the SQL job store and nothing of the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dueq.producer.cli.common import settings_from

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dueq.producer.backend import Backend
    from dueq.producer.history.base import RunHistory
    from dueq.producer.settings import SchedulerSettings
    from dueq.producer.store.base import JobStore

__all__ = ["StoreReader", "store_reader"]

# A database_url keeping everything in one process (see producer.backend): nothing to read
# from another process, but a command given it still answers (with nothing) as before.
_MEMORY = "memory:"


class StoreReader:
    """The job store and the run history of the configured database, opened on first use."""

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._backend: Backend | None = None
        self._store: JobStore | None = None
        self._history: RunHistory | None = None

    @property
    def store(self) -> JobStore:
        """The job store (read it only: a change must also wake the scheduler)."""
        if self._store is None:
            if self._is_memory():
                self._store = self._memory().store
            else:
                from dueq.producer.store.sql import SqlJobStore

                self._store = SqlJobStore(self._database())
        return self._store

    @property
    def history(self) -> RunHistory:
        """Run history and worker liveness, as the scheduler recorded them."""
        if self._history is None:
            if self._is_memory():
                self._history = self._memory().history
            else:
                from dueq.producer.history.sql import SqlRunHistory

                self._history = SqlRunHistory(self._database())
        return self._history

    def close(self) -> None:
        """Let go of the database's connections."""
        if self._engine is not None:
            self._engine.dispose()
        if self._backend is not None:
            self._backend.close()

    def _is_memory(self) -> bool:
        return self.settings.database_url.reveal().startswith(_MEMORY)

    def _database(self) -> Engine:
        if self._engine is None:
            from dueq.shared.db import open_database

            self._engine = open_database(
                self.settings.database_url.reveal(), schema=self.settings.database_schema
            )
        return self._engine

    def _memory(self) -> Backend:
        if self._backend is None:
            from dueq.producer.backend import open_backend

            self._backend = open_backend(self.settings.database_url.reveal())
        return self._backend


@contextmanager
def store_reader(options: dict[str, Any]) -> Iterator[StoreReader]:
    """A reader for the command's service options; its connections close after."""
    reader = StoreReader(settings_from(options))
    try:
        yield reader
    finally:
        reader.close()
