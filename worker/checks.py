"""The checks every run message goes through, one function per step, in DESIGN.md's order.

parse → dedupe → misfire (and coalesced) → claim → (execute → report, in ``handler``).
Each function decides one thing and has no side effects besides the claim store, so the
order and each rule can be read, and tested, on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dueq.shared.broker import IncomingMessage
from dueq.shared.errors import DueqError, ProtocolError
from dueq.shared.inbound import open_run
from dueq.shared.protocol import MissedReason, RunRequest
from dueq.shared.signing import Signer
from dueq.worker.claims import Claimed, ClaimResult, ClaimStore, Duplicate
from dueq.worker.executors import Executor
from dueq.worker.registry import NotAllowed, Registry

__all__ = [
    "Delivery",
    "Rejected",
    "claim",
    "coalesced",
    "dedupe",
    "misfire",
    "parse",
    "too_late",
]


class Rejected(DueqError):
    """A message that will never run here: dead-letter it with ``reason`` and report it."""

    def __init__(self, reason: str, run: RunRequest | None = None) -> None:
        self.reason = reason
        self.run = run
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A parsed run message, its function, and which consumer generation delivered it.

    ``claimed`` is set when the gate claimed the run in a batch; None when the slot is
    to claim it itself (an overlap policy that may wait, see ``admission``).  ``due_at``
    is when the run may start (epoch seconds by this host's clock), set when the gate holds
    it (``hold``): the gate may claim it up to the claim lead before then, and the slot
    waits for it.  0 for a run that was never held.
    """

    message: IncomingMessage
    generation: int
    run: RunRequest
    func: Callable[..., Any]
    claimed: Claimed | None = None
    handover: bool = False
    due_at: float = 0.0

    @property
    def redelivered(self) -> bool:
        """Delivered before: by the broker, by a reaper's handover, or per quorum count.

        A handover is known by the message's AMQP type, which the signature covers; a
        header saying "redelivered" would be anybody's to set.
        """
        message = self.message
        return bool(self.handover or message.redelivered or (message.delivery_count or 0) > 0)


def parse(
    message: IncomingMessage,
    registry: Registry,
    executor: Executor,
    signer: Signer | None = None,
    *,
    generation: int = 0,
) -> Delivery:
    """Step 1: authenticate, decode and validate the run, and find its function.

    Raises ``Rejected`` for an unsigned or badly signed message (when ``signer`` is given),
    malformed or oversize JSON, a content coding or compression, a wrong schema or protocol
    version, a run id not bound to its job and time, a function outside the allowlist, or
    one this executor cannot run.  Nothing else escapes: this runs in the broker thread.
    """
    try:
        opened = open_run(message, signer)
    except ProtocolError as exc:
        raise Rejected(exc.reason) from exc
    run = opened.run
    try:
        func = registry.resolve(run.func)
        refusal = executor.refusal(func)
    except NotAllowed as exc:
        raise Rejected(exc.reason, run) from exc
    except Exception as exc:  # a broken object in an allowed module: refuse, do not die
        reason = f"function {run.func!r} cannot be resolved: {type(exc).__name__}"
        raise Rejected(reason, run) from exc
    if refusal is not None:
        raise Rejected(
            f"function {run.func!r} cannot run on the {executor.kind} executor: {refusal}", run
        )
    return Delivery(message, generation, run, func, handover=opened.handover)


def dedupe(run: RunRequest, claims: ClaimStore, now: datetime) -> Duplicate | None:
    """Step 2: a run already running (live lease) or finished is a duplicate to drop."""
    return claims.lookup(run.run_id, now)


def misfire(run: RunRequest, now: datetime) -> float | None:
    """Step 3: the lateness in seconds if the run is too late to start, else None.

    ``now - scheduled_at > misfire_grace_time`` is missed; a grace time of None never is.
    """
    if run.misfire_grace_time is None:
        return None
    lateness = (now - run.scheduled_at).total_seconds()
    return lateness if lateness > run.misfire_grace_time else None


def coalesced(run: RunRequest, now: datetime) -> float | None:
    """Step 3b: the lateness in seconds if a newer run of a coalescing job is already due.

    The scheduler stamps a coalescing job's run with the job's next run-time
    (``next_scheduled_at``); once that has passed, this run is part of a backlog and the
    newer run (published, or to be published as the scheduler's one catch-up run) is the
    one to run.  Decided from the message alone: no database, any language.
    """
    if not run.coalesce or run.next_scheduled_at is None or run.next_scheduled_at > now:
        return None
    return (now - run.scheduled_at).total_seconds()


def too_late(run: RunRequest, now: datetime) -> tuple[float, MissedReason] | None:
    """Steps 3 and 3b together: the lateness and why, if the run is not to start now."""
    lateness = misfire(run, now)
    if lateness is not None:
        return lateness, MissedReason.MISFIRE
    lateness = coalesced(run, now)
    if lateness is not None:
        return lateness, MissedReason.COALESCED
    return None


def claim(
    run: RunRequest, claims: ClaimStore, worker_id: str, now: datetime, lease: timedelta
) -> ClaimResult:
    """Step 4: take an instance slot (``Claimed``), else ``Full`` or ``Duplicate``."""
    return claims.claim(run, worker_id, now, lease)
