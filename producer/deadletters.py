"""Dead letters for operators: what ``dueq dead`` and the dashboard show and do.

Each call opens its own short broker connection (an operator's click, not a hot path),
declares the topology so the dead-letter queue exists, and closes again.  Bodies are shown
as text, never executed or unpickled; a body that is a RunRequest names its job.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dueq.shared.broker import BrokerConnection, DeadLetter, DeadLetterQueue, ReplayResult
from dueq.shared.errors import DueqError
from dueq.shared.topology import Topology

__all__ = ["DeadLetterLookupError", "DeadLetters", "DeadView", "describe_body"]

# Longest body shown in full; a dead letter may be a huge hostile payload.
_BODY_CHARS = 20_000
# Most messages a listing reads (each is held unacknowledged until the listing ends).
MAX_LIST = 10_000


class DeadLetterLookupError(DueqError, LookupError):
    """No dead letter has the given key (``dueq dead list`` shows the keys)."""

    def __init__(self, keys: Collection[str]) -> None:
        self.keys = sorted(keys)
        shown = ", ".join(repr(key) for key in self.keys)
        super().__init__(f"no dead letter {shown} (see `dueq dead list`)")


@dataclass(frozen=True, kw_only=True)
class DeadView:
    """A dead letter as shown: its metadata, the job it was for, and its body as text."""

    key: str
    position: int
    size: int
    reason: str
    source_queue: str
    dead_at: str
    job_id: str | None
    body_text: str
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json`` and the dashboard's API)."""
        return {
            "key": self.key,
            "position": self.position,
            "size": self.size,
            "reason": self.reason,
            "source_queue": self.source_queue,
            "dead_at": self.dead_at,
            "job_id": self.job_id,
            "body": self.body_text,
            "headers": self.headers,
        }


class DeadLetters:
    """List, show, replay and purge ``<prefix>.dead`` of one broker and topology."""

    def __init__(self, broker_url: str, topology: Topology) -> None:
        self._broker_url = broker_url
        self._topology = topology

    def list(self, limit: int = 100) -> list[DeadView]:
        """Up to ``limit`` dead letters, oldest first (the queue is left unchanged)."""
        with self._queue() as queue:
            return [_view(dead) for dead in queue.browse(min(limit, MAX_LIST))]

    def count(self) -> int:
        """Messages waiting in the dead-letter queue."""
        with self._connection() as connection:
            return connection.queue_depth(self._topology.dead_letter_queue)

    def show(self, key: str) -> DeadView | None:
        """The dead letter named ``key`` (see ``DeadLetter.key``), or None."""
        return next((view for view in self.list(MAX_LIST) if view.key == key), None)

    def replay(self, keys: Collection[str] | None) -> ReplayResult:
        """Send the dead letters named ``keys`` (all if None) back to their queues."""
        with self._queue() as queue:
            return queue.replay(None if keys is None else set(keys))

    def purge(self) -> int:
        """Delete every dead letter; return how many were deleted."""
        with self._queue() as queue:
            return queue.purge()

    @contextmanager
    def _connection(self) -> Iterator[BrokerConnection]:
        with BrokerConnection(self._broker_url, name="dueq-dead-letters") as connection:
            connection.declare_topology(self._topology, ())
            yield connection

    @contextmanager
    def _queue(self) -> Iterator[DeadLetterQueue]:
        with self._connection() as connection:
            yield connection.dead_letters(self._topology)


def describe_body(body: bytes) -> tuple[str, str | None]:
    """The body as text (JSON indented when it parses) and the job id it names, if any."""
    text = body[:_BODY_CHARS].decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except ValueError:
        return text + ("…" if len(body) > _BODY_CHARS else ""), None
    job_id = data.get("job_id") if isinstance(data, dict) else None
    pretty = json.dumps(data, indent=2, ensure_ascii=False)[:_BODY_CHARS]
    return pretty, job_id if isinstance(job_id, str) else None


def _view(dead: DeadLetter) -> DeadView:
    text, job_id = describe_body(dead.body)
    return DeadView(
        key=dead.key,
        position=dead.position,
        size=dead.size,
        reason=dead.reason or "-",
        source_queue=dead.source_queue or "-",
        dead_at=dead.dead_at or "-",
        job_id=job_id,
        body_text=text,
        headers={str(k): str(v)[:500] for k, v in dead.headers.items()},
    )
