"""The self-pipe that wakes a thread sleeping on the broker's socket."""

from __future__ import annotations

import select

from dueq.shared.broker.waker import Waker


def _readable(waker: Waker) -> bool:
    readable, _, _ = select.select([waker.fileno()], [], [], 0)
    return bool(readable)


def test_a_wake_makes_the_descriptor_readable_until_cleared() -> None:
    waker = Waker()
    try:
        assert not _readable(waker)
        waker.wake()
        assert _readable(waker)
        waker.clear()
        assert not _readable(waker)
    finally:
        waker.close()


def test_a_wake_after_clear_is_seen_again() -> None:
    # The order that loses nothing: the sleeper clears, then takes the work; work handed
    # over afterwards wakes it once more.
    waker = Waker()
    try:
        waker.fileno()
        waker.wake()
        waker.wake()  # already pending: no second byte needed
        waker.clear()
        waker.wake()
        assert _readable(waker)
    finally:
        waker.close()


def test_wakes_before_anyone_waits_or_after_close_are_harmless() -> None:
    waker = Waker()
    waker.wake()  # nobody has asked for the descriptor yet: nothing to do
    waker.clear()
    waker.fileno()
    waker.close()
    waker.wake()
    waker.clear()
