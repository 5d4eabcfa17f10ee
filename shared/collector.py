"""Python's cyclic garbage collector, paused for a command that exits within a second.

``dueq jobs list`` builds about half a million objects while it imports SQLAlchemy,
pydantic and rich, and nearly all of them live until the process exits.  The collector
walked them about 150 times while they were built, and once more in the interpreter's
final collection at exit, for no garbage worth the walk: a tenth of the command's CPU
(callgrind: 179 M of 1,826 M instructions).  A short command therefore runs with the
collector paused, and whatever is alive at exit is frozen first, so that the final
collection skips it.  Reference counting still frees everything that is not in a cycle,
and a finalizer left out at exit is one Python never promised to run.

Services (scheduler, worker, ``dueq up``, the dashboard) run for days and keep the
collector running.  The two that own their process, ``dueq worker`` and ``dueq scheduler``,
freeze what is alive once they have started (``freeze_startup_heap``): a full collection
then walks only what was made since, instead of every module, class and table definition
loaded at start-up.
"""

from __future__ import annotations

import atexit
import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused", "freeze_startup_heap"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the collector paused, and skip the final collection at exit.

    The collector's state is restored when the block ends (a test process invoking
    commands in-process keeps collecting between them).
    """
    was_enabled = gc.isenabled()
    _freeze_at_exit()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
def _freeze_at_exit() -> None:
    """Once per process: freeze what is alive when the exit hooks run.

    Freezing only moves objects out of the collector's reach; the other exit hooks
    (logging's flush among them) and the flushing of stdout run as before.
    """
    atexit.register(gc.freeze)


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive out of the collector's reach for good.

    For a service process dueq owns, once it has started: the ~84,000 objects imported
    and built at start-up live until exit, and each full collection walked them all, 40-50
    ms with every thread of the process stopped (twice in a 20 s run of a worker at 100
    runs/s: a start lag of as much for the runs due meanwhile).  Garbage is collected
    first, so none is frozen.  Never for an application that embeds dueq: its own objects
    would be frozen with ours, and cycles among them never collected.
    """
    gc.collect()
    gc.freeze()
