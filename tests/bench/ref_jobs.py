"""Job functions the references run (importable by reference, so stores can pickle them).

Each returns the wall-clock time it started: APScheduler hands the return value to its
listeners together with the scheduled time, which gives the start lag of every run.
"""

from __future__ import annotations

import time

__all__ = ["stamp"]


def stamp(*_args: object, **_kwargs: object) -> float:
    """Do nothing but say when this run started (``time.time()``)."""
    return time.time()
