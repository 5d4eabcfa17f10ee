"""Text that UTF-8 can encode, for anything that goes out as UTF-8 JSON.

Python strings may hold lone surrogates, which have no UTF-8 form: ``os.fsdecode`` makes
them of a file name's undecodable bytes, and py-amqp decodes an AMQP short string's bytes
with ``surrogatepass``, so a message property can carry one.  Such text in an event made the
event impossible to serialize: a run was never reported, or a bad message stopped the
worker's broker thread.  Text from a job or a message goes through ``encodable`` first.
"""

from __future__ import annotations

__all__ = ["encodable"]


def encodable(text: str) -> str:
    """``text``, with the code points UTF-8 cannot encode written as backslash escapes
    (``\\udcff``); valid text comes back as it is."""
    if text.isascii():  # nearly every id and name: the cheapest test there is
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text
