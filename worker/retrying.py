"""Whether a failed run should be tried again: the worker's half of retries.

The worker has the exception, so it decides whether the run's ``retry`` policy covers it
(by class name, walking the exception's classes, so ``retry_on=["OSError"]`` covers a
``ConnectionError`` without importing anything).  It does not wait or republish: it echoes
the run in its ``job_error`` and the scheduler, which owns durable time, schedules the
next attempt after the backoff (see docs/run-control.md for why).
"""

from __future__ import annotations

from dueq.shared.protocol import RunRequest
from dueq.worker.runner import Outcome

__all__ = ["retry_request"]


def retry_request(run: RunRequest, outcome: Outcome) -> RunRequest | None:
    """``run`` if its failure ``outcome`` is to be retried, else None."""
    policy = run.retry
    if policy is None or not outcome.failed or run.attempt >= policy.max_attempts:
        return None
    if outcome.cancelled:  # a newer run replaced it (cancel_other): trying again undoes that
        return None
    if policy.retry_on and not set(policy.retry_on).intersection(outcome.error_classes):
        return None
    return run
