"""The gate every received message passes before dueq believes a byte of it.

In this order, cheapest and most protective first: the size, the envelope (no content
coding or compression: the body must be the JSON as sent), the signature (when a key is
configured), then decoding, then what binds the message to its purpose (a run's id to its
job and time; an event's AMQP type to its ``event``).  Every refusal, whatever raised it,
is a ``ProtocolError`` with a one-line reason, so callers dead-letter and report instead
of dying: decoding is the part of a process that a stranger's bytes reach.
"""

from __future__ import annotations

from dataclasses import dataclass

from dueq.shared.broker.messages import UNDECODABLE_HEADER, IncomingMessage
from dueq.shared.errors import ProtocolError
from dueq.shared.protocol import (
    MAX_MESSAGE_BYTES,
    Event,
    RunRequest,
    decode_event,
    decode_run,
    make_run_id,
)
from dueq.shared.signing import HANDOVER_TYPE, RUN_TYPE, Signer

__all__ = ["OpenedRun", "check_envelope", "open_event", "open_run"]

_JSON = "application/json"
# Content encodings that mean "the bytes are the UTF-8 JSON itself".
_PLAIN_ENCODINGS = frozenset({"utf-8", "utf8"})
# Headers kombu and Celery use to announce a compressed body.
_COMPRESSION_HEADERS = ("compression", "content-encoding")
_RUN_TYPES = frozenset({RUN_TYPE, HANDOVER_TYPE})


@dataclass(frozen=True, slots=True)
class OpenedRun:
    """A run that passed the gate; ``handover`` when a reaper republished it."""

    run: RunRequest
    handover: bool


def check_envelope(message: IncomingMessage) -> None:
    """Refuse undecodable properties, an oversize body, a non-JSON content type, a content
    coding or a compressed body, before reading a byte of it."""
    undecodable = message.headers.get(UNDECODABLE_HEADER)
    if undecodable is not None:
        raise ProtocolError(f"the message's AMQP properties cannot be decoded: {undecodable}")
    size = len(message.body)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    kind = message.content_type
    if kind and not kind.strip().lower().startswith(_JSON):
        # Celery's pickle, YAML, msgpack...: never read as anything but JSON, so refuse.
        raise ProtocolError(f"content_type {kind[:60]!r} is refused: bodies are JSON")
    encoding = message.content_encoding
    if encoding and encoding.strip().lower() not in _PLAIN_ENCODINGS:
        raise ProtocolError(
            f"content_encoding {encoding[:40]!r} is refused: bodies are plain UTF-8 JSON"
        )
    for name in _COMPRESSION_HEADERS:
        if message.headers.get(name):
            raise ProtocolError(f"header {name!r} is refused: compressed bodies are not read")


def open_run(message: IncomingMessage, signer: Signer | None) -> OpenedRun:
    """The RunRequest ``message`` carries, or ``ProtocolError``."""
    try:
        check_envelope(message)
        if signer is not None:
            signer.verify(message.type, message.body, message.headers)
            if message.type not in _RUN_TYPES:
                raise ProtocolError(f"a {message.type!r} message is not a run")
        run = decode_run(message.body)
        expected = make_run_id(run.job_id, run.scheduled_at, run.attempt)
    except ProtocolError:
        raise
    except Exception as exc:  # anything a stranger's bytes provoke is their problem
        raise ProtocolError(_unreadable(exc)) from exc
    if run.run_id != expected:
        raise ProtocolError(
            f"run_id {run.run_id[:64]!r} is not the id of job {run.job_id[:100]!r} at "
            f"{run.scheduled_at.isoformat()}, attempt {run.attempt} (expected {expected})"
        )
    return OpenedRun(run, handover=message.type == HANDOVER_TYPE)


def open_event(message: IncomingMessage, signer: Signer | None) -> Event:
    """The event ``message`` carries, or ``ProtocolError``."""
    try:
        check_envelope(message)
        if signer is not None:
            signer.verify(message.type, message.body, message.headers)
        event = decode_event(message.body)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(_unreadable(exc)) from exc
    if signer is not None and message.type != event.event.value:
        raise ProtocolError(f"a {event.event.value!r} event sent as type {message.type!r}")
    return event


def _unreadable(exc: Exception) -> str:
    return f"unreadable message: {type(exc).__name__}: {str(exc)[:200]}"
