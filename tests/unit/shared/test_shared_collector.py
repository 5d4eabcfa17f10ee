"""A short command runs with the garbage collector paused and skips the final collection."""

from __future__ import annotations

import gc

import pytest

from dueq.shared.collector import collector_paused
from tests.support.probe import printed_by


@pytest.mark.usefixtures("collector_enabled")
def test_the_collector_is_paused_inside_and_running_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()

    assert gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_a_collector_that_was_paused_stays_paused() -> None:
    gc.disable()
    with collector_paused():
        pass

    assert not gc.isenabled()


def test_what_is_alive_at_exit_is_frozen_before_the_final_collection() -> None:
    # atexit runs its hooks last-registered first: this probe's hook runs after dueq's.
    probe = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
        "from dueq.shared.collector import collector_paused\n"
        "with collector_paused(): pass\n"
        "with collector_paused(): pass\n"
    )
    assert printed_by(probe) == ["frozen", "True"]


def test_a_service_freezes_what_is_alive_after_collecting_the_garbage() -> None:
    # In a process of its own: freezing is for the life of the process.
    probe = (
        "import gc, weakref\n"
        "from dueq.shared.collector import freeze_startup_heap\n"
        "class Node: pass\n"
        "kept, lost = Node(), Node()\n"
        "lost.me = lost  # a cycle only the collector frees\n"
        "gone = weakref.ref(lost)\n"
        "del lost\n"
        "freeze_startup_heap()\n"
        "print(gone() is None, gc.get_freeze_count() > 0, gc.is_tracked(kept))\n"
    )
    assert printed_by(probe) == ["True", "True", "True"]
