"""Publisher-confirm bookkeeping: every publish is settled exactly once, failures named."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dueq.shared.broker import OutgoingMessage
from dueq.shared.broker.confirms import ConfirmTracker


def _message(n: int, routing_key: str = "default") -> OutgoingMessage:
    return OutgoingMessage(body=str(n).encode(), exchange="x", routing_key=routing_key)


def test_sequence_numbers_start_at_one_and_rise() -> None:
    tracker = ConfirmTracker()
    assert [tracker.sent(_message(n)) for n in range(3)] == [1, 2, 3]
    assert tracker.in_flight == 3


def test_a_multiple_ack_settles_every_message_up_to_its_tag() -> None:
    tracker = ConfirmTracker()
    for n in range(5):
        tracker.sent(_message(n))
    tracker.acked(3, multiple=True)
    assert tracker.in_flight == 2
    tracker.acked(5, multiple=False)
    tracker.acked(4, multiple=False)
    assert tracker.in_flight == 0
    assert tracker.take_failures() == []


def test_a_nack_fails_the_messages_it_covers() -> None:
    tracker = ConfirmTracker()
    messages = [_message(n) for n in range(3)]
    for message in messages:
        tracker.sent(message)
    tracker.nacked(2, multiple=True)
    tracker.acked(3, multiple=False)
    failures = tracker.take_failures()
    assert [f.message for f in failures] == messages[:2]
    assert all("nacked" in f.reason and f.nacked for f in failures)


def test_a_returned_message_is_not_counted_as_nacked_whichever_answer_follows() -> None:
    tracker = ConfirmTracker()
    acked_after, nacked_after = _message(1, "nowhere"), _message(2, "nowhere")
    for message in (acked_after, nacked_after):
        tracker.sent(message)
        tracker.returned("x", "nowhere", message.body, "unroutable: NO_ROUTE")
    tracker.acked(1, multiple=False)
    tracker.nacked(2, multiple=False)
    failures = tracker.take_failures()
    assert [(f.message, f.nacked) for f in failures] == [
        (acked_after, False),
        (nacked_after, False),
    ]


def test_a_return_before_the_ack_fails_the_matching_message_only() -> None:
    tracker = ConfirmTracker()
    good, bad = _message(1), _message(2, routing_key="nowhere")
    tracker.sent(good)
    tracker.sent(bad)
    tracker.returned("x", "nowhere", b"2", "unroutable: NO_ROUTE")
    tracker.acked(2, multiple=True)
    (failure,) = tracker.take_failures()
    assert failure.message is bad
    assert "routing key 'nowhere'" in failure.describe()


def test_returns_of_identical_messages_are_matched_oldest_first() -> None:
    tracker = ConfirmTracker()
    for _ in range(3):
        tracker.sent(_message(7, routing_key="nowhere"))
    tracker.returned("x", "nowhere", b"7", "unroutable: NO_ROUTE")
    tracker.acked(1, multiple=False)
    tracker.acked(2, multiple=False)
    assert len(tracker.take_failures()) == 1


def test_abandon_fails_everything_in_flight() -> None:
    tracker = ConfirmTracker()
    tracker.sent(_message(1))
    tracker.sent(_message(2))
    tracker.acked(1, multiple=False)
    tracker.abandon("channel closed")
    assert tracker.in_flight == 0
    assert [f.reason for f in tracker.take_failures()] == ["channel closed"]


def test_late_acks_for_unknown_tags_are_ignored() -> None:
    tracker = ConfirmTracker()
    tracker.acked(42, multiple=True)
    tracker.nacked(43, multiple=False)
    assert tracker.take_failures() == []


@given(st.data())
def test_any_mix_of_acks_settles_each_message_exactly_once(data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=1, max_value=40))
    tracker = ConfirmTracker()
    for n in range(count):
        tracker.sent(_message(n))
    tags = data.draw(st.permutations(range(1, count + 1)))
    nacked = 0
    for tag in tags:
        if data.draw(st.booleans()):
            tracker.nacked(tag, multiple=False)
            nacked += 1
        else:
            tracker.acked(tag, multiple=data.draw(st.booleans()))
    # Multiple acks may settle some tags early; the rest are then ignored.
    assert tracker.in_flight == 0
    assert len(tracker.take_failures()) <= nacked
