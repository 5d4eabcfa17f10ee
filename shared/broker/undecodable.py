"""Deliveries py-amqp cannot decode become messages dueq can refuse, not exceptions.

py-amqp decodes a delivery while it reads the frames, and RabbitMQ passes through bytes that
make that decoding raise, inside ``drain_events``:

* **properties** (the content header): a short string that is not UTF-8 (``message_id =
  b"\\xff"``), a header timestamp past the year 9999 (``OSError``).  The worker stopped, or
  took it for a lost connection and got the same message back, for ever.
* **method arguments**: a routing key that is not UTF-8, which any publisher can put on a
  fanout exchange (the control and listeners exchanges).  The delivery's tag was lost with
  it: the message stayed unacknowledged, and the scheduler's connection was dropped.

``install`` has py-amqp build incoming messages from ``TolerantMessage``, which keeps a
delivery whose properties do not decode with no properties but one header,
``UNDECODABLE_HEADER``, saying what failed (``shared.inbound.check_envelope`` refuses it,
so it is dead-lettered with that reason), and decode method arguments that are not UTF-8
with the bad bytes escaped (``\\xff``).  What decodes is untouched.  py-amqp reads both from
module globals, so this is process-wide: another py-amqp user in the process would also get
a marked or escaped message where it got an exception.
"""

from __future__ import annotations

import struct
from typing import Any

import amqp.abstract_channel
import amqp.basic_message
import amqp.method_framing
import amqp.serialization

from dueq.shared.broker.messages import UNDECODABLE_HEADER

__all__ = ["TolerantMessage", "install", "lenient_arguments"]

# How much of the decoding error a reason keeps.
_REASON_CHARS = 200
# Fixed-size method argument types (py-amqp's format letters): struct format and size.
_NUMBERS = {"o": (">B", 1), "B": (">H", 2), "l": (">I", 4), "L": (">Q", 8)}


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


def lenient_arguments(spec: str, buf: Any, offset: int = 0) -> tuple[list[Any], int]:
    """Decode method arguments as py-amqp does, short strings that are not UTF-8 included
    (their bad bytes escaped).  A spec with other kinds of arguments (tables, long strings)
    keeps py-amqp's ``UnicodeDecodeError``: no delivery method has them."""
    try:
        values, end = amqp.serialization.loads(spec, buf, offset)
        return values, end
    except UnicodeDecodeError:
        if not set(spec) <= {"s", "b", *_NUMBERS}:
            raise
        return _escaped_arguments(spec, bytes(buf), offset)


def _escaped_arguments(spec: str, buf: bytes, offset: int) -> tuple[list[Any], int]:
    """The AMQP 0-9-1 encoding of ``spec``'s arguments: short strings (a length octet, then
    the bytes), numbers in network order, bits packed eight to an octet."""
    values: list[Any] = []
    bits, bit = 0, 8
    for kind in spec:
        if kind == "b":
            if bit == 8:
                bits, bit = buf[offset], 0
                offset += 1
            values.append(bool(bits >> bit & 1))
            bit += 1
            continue
        bit = 8  # bits after anything else start a new octet
        if kind == "s":
            length = buf[offset]
            values.append(buf[offset + 1 : offset + 1 + length].decode("utf-8", "backslashreplace"))
            offset += 1 + length
        else:
            layout, size = _NUMBERS[kind]
            values.append(struct.unpack_from(layout, buf, offset)[0])
            offset += size
    return values, offset


def install() -> None:
    """Make py-amqp build tolerant messages and decode arguments leniently (idempotent)."""
    amqp.method_framing.Message = TolerantMessage
    amqp.abstract_channel.loads = lenient_arguments
