"""Folded starts: the broker thread holds a job_started back a moment for its outcome."""

from __future__ import annotations

import pytest

from dueq.shared.broker import OutgoingMessage
from dueq.worker.folding import StartFolder
from dueq.worker.outbox import Outbound, Settle

WINDOW = 0.02


def _event(body: str) -> OutgoingMessage:
    return OutgoingMessage(body=body.encode(), exchange="", routing_key="events")


BUILT: list[str] = []  # the run ids whose job_started was built, in order


def _start(run_id: str) -> Outbound:
    def build() -> tuple[OutgoingMessage]:
        BUILT.append(run_id)
        return (_event(f"started {run_id}"),)

    return Outbound(build=build, start_of=run_id)


def _sent(run_id: str) -> Outbound:
    """A start as it goes out: built."""
    return Outbound((_event(f"started {run_id}"),), start_of=run_id)


@pytest.fixture(autouse=True)
def _nothing_built_yet() -> None:
    BUILT.clear()


def _outcome(run_id: str) -> Outbound:
    return Outbound((_event(f"executed {run_id}"),), settle=Settle.NOTHING, outcome_of=run_id)


def test_a_start_whose_outcome_comes_in_the_same_batch_is_dropped() -> None:
    folder = StartFolder(WINDOW)
    start, outcome, other = _start("a"), _outcome("a"), Outbound(())
    assert folder.sort([start, other, outcome], now=0.0) == [other, outcome]
    assert folder.seconds_to_next(0.0) is None


def test_a_start_waits_for_its_window_and_is_dropped_if_its_outcome_comes_meanwhile() -> None:
    folder = StartFolder(WINDOW)
    assert folder.sort([_start("a")], now=0.0) == []
    assert folder.seconds_to_next(0.005) == WINDOW - 0.005
    outcome = _outcome("a")
    assert folder.sort([outcome], now=0.01) == [outcome]
    assert folder.seconds_to_next(0.01) is None
    assert folder.sort([], now=1.0) == []


def test_a_start_goes_out_once_its_window_has_passed_without_its_outcome() -> None:
    folder = StartFolder(WINDOW)
    start, other_outcome = _start("long"), _outcome("short")
    assert folder.sort([start, other_outcome], now=0.0) == [other_outcome]
    assert folder.sort([], now=WINDOW / 2) == []
    assert folder.sort([], now=WINDOW) == [_sent("long")]
    later = _outcome("long")
    assert folder.sort([later], now=5.0) == [later]  # its start went out: both are sent


def test_take_all_hands_back_every_held_start_when_the_worker_stops() -> None:
    folder = StartFolder(WINDOW)
    first, second = _start("a"), _start("b")
    folder.sort([first, second], now=0.0)
    assert folder.take_all() == [_sent("a"), _sent("b")]
    assert folder.seconds_to_next(0.0) is None


def test_a_start_is_built_only_when_it_goes_out_never_when_folded() -> None:
    folder = StartFolder(WINDOW)
    folder.sort([_start("short"), _start("long")], now=0.0)
    folder.sort([_outcome("short")], now=WINDOW / 2)
    assert BUILT == []
    folder.sort([], now=WINDOW)
    assert BUILT == ["long"]


def test_a_start_that_cannot_be_built_is_left_out_and_the_rest_go_out() -> None:
    def broken() -> tuple[OutgoingMessage]:
        raise ValueError("cannot encode")

    folder = StartFolder(WINDOW)
    folder.sort([Outbound(build=broken, start_of="bad"), _start("good")], now=0.0)
    assert folder.sort([], now=WINDOW) == [_sent("good")]
