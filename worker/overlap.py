"""Overlap policies: what a run does when its job already has ``max_instances`` running.

Every policy is a decision made around the claim store's one atomic step (``claim``), so
it holds wherever claims hold: fleet-wide when workers share the database, per process
otherwise.  No policy needs a query of its own:

* ``skip``: the ``Full`` result stands (``job_max_instances``), as before.
* ``allow_all``: the run is claimed with the protocol's largest limit, so the count never
  stops it (its claim still dedupes it and guards it against worker death).
* ``buffer_all``: the run waits in its slot, asking again every ``POLL_S``, until a slot
  of the job frees anywhere in the fleet; its message stays unacknowledged meanwhile, so
  a worker dying while it waits loses nothing (the broker delivers it again).
* ``buffer_one``: as ``buffer_all``, but only one run per job may wait: the waiter first
  claims the job's single *buffer slot* (a claim of the pseudo-job ``buffer:<job id>``
  with a limit of one), and a run that cannot get it is skipped.
* ``cancel_other``: the running instances of the job are asked to stop, then the run
  waits for the slot as ``buffer_all``.  Those in this process are cancelled at once;
  the others are marked in the claim store (``request_cancel``), where their workers'
  lease keepers find the mark at their next renewal.  Each is stopped where its executor
  can (an asyncio task is cancelled, a process-executor run's own child is killed); a
  thread cannot be stopped, so such an instance finishes first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dueq.shared.protocol import Overlap, RunRequest
from dueq.worker.claims import Claimed, ClaimResult, Full

__all__ = [
    "BUFFER_SUFFIX",
    "MAX_INSTANCES_CAP",
    "POLL_S",
    "OverlapPolicy",
    "as_claimed",
    "is_buffer_slot",
    "may_wait",
]

# How often a waiting run asks the claim store again: a slot freed by another worker is
# only visible by asking; a tenth of a second costs one indexed query per waiting run.
POLL_S = 0.1
# The protocol's bound on max_instances: claiming with it never finds the job full.
MAX_INSTANCES_CAP = 10_000
# Run ids of buffer-slot claims end with this; the reaper never hands them over.
BUFFER_SUFFIX = ":buffer"

Claim = Callable[[RunRequest], ClaimResult]


def is_buffer_slot(run_id: str) -> bool:
    """True for the claim of a job's buffer slot (not a run: never republished)."""
    return run_id.endswith(BUFFER_SUFFIX)


def may_wait(run: RunRequest) -> bool:
    """True when ``run``'s policy may make it wait for a slot (``OverlapPolicy.claim``).

    The others (``skip``, ``allow_all``) are decided by one claim, so the gate claims
    them in its batch; a waiting run claims in its slot, as it waits there.
    """
    return run.overlap in (Overlap.BUFFER_ONE, Overlap.BUFFER_ALL, Overlap.CANCEL_OTHER)


def as_claimed(run: RunRequest) -> RunRequest:
    """The run to hand the claim store: ``allow_all`` claims past ``max_instances``."""
    if run.overlap is Overlap.ALLOW_ALL:
        return run.model_copy(update={"max_instances": MAX_INSTANCES_CAP})
    return run


class OverlapPolicy:
    """Applies a run's ``overlap`` around the claim; ``claim`` retries database outages."""

    def __init__(
        self,
        *,
        claim: Claim,
        release: Callable[[str], None],
        hold: Callable[[str], None],
        unhold: Callable[[str], None],
        cancel: Callable[[str], int],
        request_cancel: Callable[[RunRequest], int],
        stopping: threading.Event,
    ) -> None:
        self._claim = claim
        self._release = release
        self._hold = hold
        self._unhold = unhold
        self._cancel = cancel
        self._request_cancel = request_cancel
        self._stopping = stopping

    def claim(self, run: RunRequest) -> ClaimResult | None:
        """Claim ``run`` under its overlap policy; ``Full`` means report max_instances.

        None: the worker is stopping while the run waited; hand it back unstarted.
        """
        result = self._claim(as_claimed(run))
        if not isinstance(result, Full) or not may_wait(run):
            return result
        if run.overlap is Overlap.BUFFER_ONE:
            return self._wait_buffered(run, result)
        if run.overlap is Overlap.CANCEL_OTHER:
            self._cancel(run.job_id)  # here, at once
            self._request_cancel(run)  # anywhere in the fleet, at the next lease renewal
        return self._wait(run, result)

    def _wait_buffered(self, run: RunRequest, full: Full) -> ClaimResult | None:
        slot = _buffer_slot(run)
        if not isinstance(self._claim(slot), Claimed):
            return full  # another run of the job is already waiting: skip this one
        self._hold(slot.run_id)  # the lease keeper renews the slot while we wait
        try:
            return self._wait(run, full)
        finally:
            self._unhold(slot.run_id)
            self._release(slot.run_id)

    def _wait(self, run: RunRequest, full: Full) -> ClaimResult | None:
        result: ClaimResult = full
        while isinstance(result, Full):
            if self._stopping.wait(POLL_S):
                return None
            result = self._claim(run)
        return result


def _buffer_slot(run: RunRequest) -> RunRequest:
    """The claim that makes ``run`` the one waiting run of its job."""
    return run.model_copy(
        update={
            "run_id": f"{run.run_id[: 64 - len(BUFFER_SUFFIX)]}{BUFFER_SUFFIX}",
            "job_id": f"buffer:{run.job_id}"[:255],
            "max_instances": 1,
        }
    )
