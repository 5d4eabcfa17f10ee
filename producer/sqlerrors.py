"""Turning SQLAlchemy's connection failures into ``StoreUnavailable`` (transient, retried).

A database that does not exist becomes ``ConfigError`` instead: the user must fix the URL.

Decided once here for every SQL adapter of the producer: a lost or refused connection is
transient; everything else (constraint violations, bad SQL) is a bug or a conflict and
propagates as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dueq.shared.db import store_failure
from dueq.shared.errors import ConfigError, StoreUnavailable

__all__ = ["store_errors"]


@contextmanager
def store_errors(engine: Engine) -> Iterator[None]:
    """Re-raise connection failures inside the block as ``StoreUnavailable``."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise _unavailable(engine, exc) from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _unavailable(engine, exc) from exc
        raise


def _unavailable(engine: Engine, exc: sa.exc.DBAPIError) -> ConfigError | StoreUnavailable:
    # A database that does not exist is the user's typing (ConfigError, never retried).
    return store_failure(engine, exc)
