"""Holding early runs until their time: which clock wins, the cap, the order of release,
and the gate threads' blocking wait for the next due run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from dueq.shared.protocol import RunRequest, encode, make_run_id
from dueq.worker.checks import Delivery
from dueq.worker.hold import HoldQueue
from tests.unit.worker.test_worker_checks import message

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def delivery(
    at: float, *, published: float | None = None, job: str = "job", now: datetime = NOW
) -> Delivery:
    """A run due ``at`` seconds after ``now``, published ``published`` seconds after it."""
    scheduled_at = now + timedelta(seconds=at)
    published_at = now + timedelta(seconds=at if published is None else published)
    run = RunRequest(
        run_id=make_run_id(job, scheduled_at),
        job_id=job,
        job_name=job,
        func="tests.jobs_for_tests.worker_jobs:add",
        scheduled_at=scheduled_at,
        published_at=published_at,
        epoch=1,
    )
    return Delivery(message(encode(run)), 1, run, print)


def test_a_run_that_is_due_is_not_held() -> None:
    hold = HoldQueue(clock=FakeClock())
    assert not hold.hold(delivery(0.0, published=-0.2))
    assert not hold.hold(delivery(-5.0))
    assert len(hold) == 0
    assert hold.seconds_to_next() is None


def test_an_early_run_is_released_at_its_scheduled_time_and_not_before() -> None:
    clock = FakeClock()
    hold = HoldQueue(clock=clock)
    early = delivery(0.2, published=0.0)
    assert hold.hold(early)
    assert hold.seconds_to_next() == pytest.approx(0.2)
    clock.advance(0.1999)
    assert hold.release_due() == []
    clock.advance(0.0002)
    assert hold.release_due() == [early]
    assert len(hold) == 0


def test_runs_are_released_in_time_order_whatever_order_they_arrived_in() -> None:
    clock = FakeClock()
    hold = HoldQueue(clock=clock)
    late, soon, same_as_soon = (
        delivery(0.3, published=0.0, job="a"),
        delivery(0.1, published=0.0, job="b"),
        delivery(0.1, published=0.0, job="c"),
    )
    for item in (late, soon, same_as_soon):
        hold.hold(item)
    clock.advance(1)
    assert hold.release_due() == [soon, same_as_soon, late]


def test_a_worker_clock_behind_the_scheduler_holds_no_longer_than_the_scheduler_meant() -> None:
    clock = FakeClock()
    clock.advance(-5)  # this host is five seconds behind the scheduler
    hold = HoldQueue(clock=clock)
    hold.hold(delivery(0.25, published=0.0))
    assert hold.seconds_to_next() == pytest.approx(0.25)  # the scheduler's lead, not 5.25 s


def test_a_run_stamped_far_in_the_future_is_held_at_most_max_hold() -> None:
    hold = HoldQueue(max_hold=10.0, clock=FakeClock())
    hold.hold(delivery(365 * 86400.0, published=0.0))
    assert hold.seconds_to_next() == pytest.approx(10.0)


def test_take_all_empties_the_queue_for_handing_runs_back() -> None:
    hold = HoldQueue(clock=FakeClock())
    runs = [delivery(0.2, published=0.0, job="a"), delivery(0.1, published=0.0, job="b")]
    for item in runs:
        hold.hold(item)
    assert hold.take_all() == [runs[1], runs[0]]
    assert len(hold) == 0
    assert hold.release_due() == []


def _real_delivery(lead: float, job: str = "job") -> Delivery:
    """A run due ``lead`` seconds from now by the real clock, published now."""
    return delivery(lead, published=0.0, job=job, now=datetime.now(UTC))


def test_put_all_keeps_due_runs_too_and_wait_due_hands_them_out_at_once() -> None:
    hold = HoldQueue(clock=FakeClock())
    due = [delivery(0.0, published=-0.2, job="a"), delivery(-5.0, job="b")]
    hold.put_all(due)
    assert len(hold) == 2
    assert hold.wait_due(10) == due


def test_wait_due_returns_an_early_run_at_its_scheduled_time_and_not_before() -> None:
    hold = HoldQueue()
    early = _real_delivery(0.05)
    hold.put_all([early])
    assert hold.wait_due(10) == [early]
    assert time.time() >= early.run.scheduled_at.timestamp()


def test_wait_due_wakes_for_a_run_put_while_it_waits_for_a_later_one() -> None:
    hold = HoldQueue()
    later, sooner = _real_delivery(5.0, job="later"), _real_delivery(0.05, job="sooner")
    hold.put_all([later])
    got: list[list[Delivery] | None] = []
    waiter = threading.Thread(target=lambda: got.append(hold.wait_due(10)))
    waiter.start()
    hold.put_all([sooner])
    waiter.join(timeout=2)
    assert got == [[sooner]]
    assert hold.take_all() == [later]


def test_wait_due_hands_out_at_most_limit_runs() -> None:
    hold = HoldQueue(clock=FakeClock())
    runs = [delivery(-1.0, job=f"j{n}") for n in range(3)]
    hold.put_all(runs)
    assert hold.wait_due(2) == runs[:2]
    assert hold.wait_due(2) == runs[2:]


def test_close_wakes_a_waiting_thread_with_none_and_keeps_the_held_runs() -> None:
    hold = HoldQueue()
    held = _real_delivery(5.0)
    hold.put_all([held])
    got: list[list[Delivery] | None] = []
    waiter = threading.Thread(target=lambda: got.append(hold.wait_due(10)))
    waiter.start()
    hold.close()
    waiter.join(timeout=2)
    assert got == [None]
    assert hold.take_all() == [held]
