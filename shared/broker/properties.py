"""Deliveries whose AMQP properties cannot be decoded become refusable messages.

py-amqp decodes a content header's properties as it reads the frame, and a few byte
sequences RabbitMQ passes through make that decoding raise: a short string that is not
UTF-8 (``message_id = b"\\xff"``), a header timestamp past the year 9999 (``OSError``).
The exception escaped ``drain_events`` with the connection's frame state half-changed:
the worker either stopped or reconnected and was given the same message again, for ever.

``install`` has py-amqp build its incoming messages from ``TolerantMessage``, which keeps
such a delivery with no properties but one header, ``UNDECODABLE_HEADER``, saying what
failed; ``shared.inbound.check_envelope`` refuses it, so it is dead-lettered with that
reason like any other bad message.  Messages that decode are untouched.  The change is
process-wide (py-amqp reads the class from a module global), which only affects other
py-amqp users in the process the same way: a message they could not read arrives marked.
"""

from __future__ import annotations

from typing import Any

import amqp.basic_message
import amqp.method_framing

from dueq.shared.broker.messages import UNDECODABLE_HEADER

__all__ = ["TolerantMessage", "install"]

# How much of the decoding error a reason keeps.
_REASON_CHARS = 200


class TolerantMessage(amqp.basic_message.Message):  # type: ignore[misc]  # untyped base
    """py-amqp's incoming message, except that properties it cannot decode are replaced
    by ``UNDECODABLE_HEADER``."""

    properties: dict[str, Any]

    def _load_properties(self, class_id: int, buf: Any, offset: int) -> int:
        try:
            return int(super()._load_properties(class_id, buf, offset))
        except Exception as exc:  # whatever a stranger's bytes provoke
            why = f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]
            self.properties = {"application_headers": {UNDECODABLE_HEADER: why}}
            return offset


def install() -> None:
    """Make py-amqp build incoming messages as ``TolerantMessage`` (idempotent)."""
    amqp.method_framing.Message = TolerantMessage
