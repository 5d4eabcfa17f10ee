"""Nacked messages are sent again after a pause; messages refused otherwise are not."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dueq.shared.broker import OutgoingMessage, PublishError, PublishFailure
from dueq.shared.broker.resend import publish_resending_nacked


def _message(n: int) -> OutgoingMessage:
    return OutgoingMessage(body=str(n).encode(), exchange="", routing_key="dueq.events")


class ScriptedPublisher:
    """Accepts or refuses each publish as its script says, recording what it was sent."""

    def __init__(self, *refusals: dict[bytes, str]) -> None:
        self.refusals = list(refusals)  # per call: body -> "nacked" or "returned"
        self.calls: list[list[OutgoingMessage]] = []

    def publish_many(self, messages: Sequence[OutgoingMessage]) -> None:
        self.calls.append(list(messages))
        refusing = self.refusals.pop(0) if self.refusals else {}
        failures = [
            PublishFailure(message=m, reason=refusing[m.body], nacked=refusing[m.body] == "nacked")
            for m in messages
            if m.body in refusing
        ]
        if failures:
            raise PublishError(failures, len(messages))


def test_a_nacked_message_is_sent_again_alone_after_a_pause() -> None:
    first, second = _message(1), _message(2)
    publisher = ScriptedPublisher({b"2": "nacked"})
    slept: list[float] = []
    publish_resending_nacked(publisher, [first, second], pauses=(0.05,), sleep=slept.append)
    assert publisher.calls == [[first, second], [second]]
    assert slept == [0.05]


def test_a_returned_message_is_not_sent_again_and_is_reported() -> None:
    lost = _message(1)
    publisher = ScriptedPublisher({b"1": "returned"})
    with pytest.raises(PublishError) as raised:
        publish_resending_nacked(publisher, [lost, _message(2)], sleep=lambda _s: None)
    assert publisher.calls == [[lost, _message(2)]]
    assert [f.message for f in raised.value.failures] == [lost]
    assert raised.value.total == 2


def test_a_message_nacked_on_every_attempt_is_reported_with_the_others_refused() -> None:
    nacked, returned = _message(1), _message(2)
    always = {b"1": "nacked"}
    publisher = ScriptedPublisher({b"1": "nacked", b"2": "returned"}, always, always)
    with pytest.raises(PublishError) as raised:
        publish_resending_nacked(
            publisher, [nacked, returned], pauses=(0, 0), sleep=lambda _s: None
        )
    assert publisher.calls == [[nacked, returned], [nacked], [nacked]]
    assert {f.message.body for f in raised.value.failures} == {b"1", b"2"}


def test_nothing_to_send_publishes_nothing() -> None:
    publisher = ScriptedPublisher()
    publish_resending_nacked(publisher, [])
    assert publisher.calls == []
