"""Listeners get APScheduler's codes; a slow or failing one never blocks the caller."""

from __future__ import annotations

import threading
import time

import pytest

from dueq.producer import listeners as codes
from dueq.producer.listeners import JobEvent, ListenerDispatcher, SchedulerEvent


def test_event_codes_have_apscheduler_3_values() -> None:
    assert (codes.EVENT_SCHEDULER_STARTED, codes.EVENT_SCHEDULER_SHUTDOWN) == (1, 2)
    assert (codes.EVENT_SCHEDULER_PAUSED, codes.EVENT_SCHEDULER_RESUMED) == (4, 8)
    assert codes.EVENT_ALL_JOBS_REMOVED == 256
    assert (codes.EVENT_JOB_ADDED, codes.EVENT_JOB_REMOVED, codes.EVENT_JOB_MODIFIED) == (
        512,
        1024,
        2048,
    )
    assert (codes.EVENT_JOB_EXECUTED, codes.EVENT_JOB_ERROR, codes.EVENT_JOB_MISSED) == (
        4096,
        8192,
        16384,
    )
    assert (codes.EVENT_JOB_SUBMITTED, codes.EVENT_JOB_MAX_INSTANCES) == (32768, 65536)
    assert codes.EVENT_ALL & codes.EVENT_JOB_MAX_INSTANCES


def test_listeners_get_only_the_events_their_mask_selects() -> None:
    dispatcher = ListenerDispatcher()
    got: list[SchedulerEvent] = []
    done = threading.Event()
    dispatcher.add_listener(got.append, codes.EVENT_JOB_ADDED)
    dispatcher.add_listener(lambda _e: done.set(), codes.EVENT_JOB_REMOVED)
    dispatcher.dispatch(JobEvent(code=codes.EVENT_JOB_MODIFIED, job_id="a"))
    dispatcher.dispatch(JobEvent(code=codes.EVENT_JOB_ADDED, job_id="b"))
    dispatcher.dispatch(JobEvent(code=codes.EVENT_JOB_REMOVED, job_id="c"))
    assert done.wait(5)
    dispatcher.close()
    assert got == [JobEvent(code=codes.EVENT_JOB_ADDED, job_id="b")]


def test_a_failing_listener_is_logged_and_the_next_listener_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = ListenerDispatcher()
    got: list[SchedulerEvent] = []

    def broken(_event: SchedulerEvent) -> None:
        raise RuntimeError("listener bug")

    dispatcher.add_listener(broken)
    dispatcher.add_listener(got.append)
    dispatcher.dispatch(SchedulerEvent(code=codes.EVENT_SCHEDULER_STARTED))
    dispatcher.close()
    assert got == [SchedulerEvent(code=codes.EVENT_SCHEDULER_STARTED)]
    assert "listener bug" in caplog.text


def test_a_stuck_listener_never_blocks_dispatch_and_overflow_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = ListenerDispatcher(maxsize=2)
    release = threading.Event()
    dispatcher.add_listener(lambda _e: release.wait(10))
    started = time.monotonic()
    for _ in range(10):
        dispatcher.dispatch(SchedulerEvent(code=codes.EVENT_SCHEDULER_STARTED))
    assert time.monotonic() - started < 1.0
    assert "listener queue full" in caplog.text
    release.set()
    dispatcher.close()


def test_removed_listeners_are_not_called() -> None:
    dispatcher = ListenerDispatcher()
    got: list[SchedulerEvent] = []
    done = threading.Event()
    dispatcher.add_listener(got.append)
    dispatcher.remove_listener(got.append)
    dispatcher.add_listener(lambda _e: done.set())
    dispatcher.dispatch(SchedulerEvent(code=codes.EVENT_SCHEDULER_STARTED))
    assert done.wait(5)
    dispatcher.close()
    assert got == []
