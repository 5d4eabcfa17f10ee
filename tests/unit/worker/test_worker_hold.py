"""Holding early runs until their time: which clock wins, the cap, the order of release,
and the gate threads' blocking wait for the next due run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from dueq.shared.protocol import RunRequest, encode, make_run_id
from dueq.worker.checks import Delivery
from dueq.worker.hold import HoldQueue, wait_until_due
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


def _runs(deliveries: list[Delivery] | None) -> list[RunRequest]:
    """The runs handed out: ``put_all`` hands out stamped copies of what it was given."""
    assert deliveries is not None
    return [d.run for d in deliveries]


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
    assert _runs(hold.wait_due(10)) == _runs(due)


def test_wait_due_returns_an_early_run_at_its_scheduled_time_and_not_before() -> None:
    hold = HoldQueue()
    early = _real_delivery(0.05)
    hold.put_all([early])
    assert _runs(hold.wait_due(10)) == _runs([early])
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
    assert [_runs(g) for g in got] == [_runs([sooner])]
    assert _runs(hold.take_all()) == _runs([later])


def test_wait_due_hands_out_at_most_limit_runs() -> None:
    hold = HoldQueue(clock=FakeClock())
    runs = [delivery(-1.0, job=f"j{n}") for n in range(3)]
    hold.put_all(runs)
    assert _runs(hold.wait_due(2)) == _runs(runs[:2])
    assert _runs(hold.wait_due(2)) == _runs(runs[2:])


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
    assert _runs(hold.take_all()) == _runs([held])


def test_put_all_stamps_each_run_with_its_instant_and_releases_it_the_lead_before() -> None:
    clock = FakeClock()
    hold = HoldQueue(clock=clock, lead=0.01)
    hold.put_all([delivery(0.2, published=0.0)])
    clock.advance(0.185)
    assert hold.release_due() == []
    clock.advance(0.005)
    (released,) = hold.release_due()
    assert released.due_at == pytest.approx(NOW.timestamp() + 0.2)
    assert hold.is_early(released)
    clock.advance(0.01)
    assert not hold.is_early(released)


def test_a_run_put_back_at_its_instant_is_released_at_it_not_the_lead_before() -> None:
    clock = FakeClock()
    hold = HoldQueue(clock=clock, lead=0.05)
    hold.put_all([delivery(0.2, published=0.0)])
    clock.advance(0.15)
    (released,) = hold.release_due()
    hold.put_at_instant([released])
    clock.advance(0.049)
    assert hold.release_due() == []
    clock.advance(0.001)
    assert hold.release_due() == [released]


def test_a_slot_waits_for_a_run_claimed_early_until_its_instant() -> None:
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds if len(slept) > 1 else seconds / 2)  # woken early once

    hold = HoldQueue(clock=clock, lead=0.01)
    hold.put_all([delivery(0.2, published=0.0)])
    clock.advance(0.19)
    (released,) = hold.release_due()
    wait_until_due(released, clock, sleep)
    assert clock() >= released.due_at
    assert slept == pytest.approx([0.01, 0.005], abs=1e-6)


def test_a_slot_does_not_wait_for_a_run_that_was_never_held() -> None:
    slept: list[float] = []
    wait_until_due(delivery(-1.0), FakeClock(), slept.append)
    assert slept == []
