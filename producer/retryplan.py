"""From a worker's ``job_error`` to the next attempt: the scheduler's half of retries.

The worker decided the failure is covered by the run's policy and echoed the run; here
the next attempt is built (attempt + 1, its own deterministic run id) and given its due
time, ``now`` plus the policy's backoff.  The echo is checked against the event (same
run id, bound to job and time), so an event cannot make the scheduler publish a run it
never issued.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime

from dueq.producer.retrystore import PendingRetry
from dueq.shared.protocol import Event, JobError, RunRequest, backoff_delay, make_run_id

__all__ = ["next_attempt", "plan_retries"]

logger = logging.getLogger(__name__)


def plan_retries(
    events: Sequence[Event], now: datetime, rng: random.Random | None = None
) -> list[PendingRetry]:
    """The retries the failures among ``events`` ask for."""
    planned = []
    for event in events:
        if not isinstance(event, JobError) or event.retry_request is None:
            continue
        request = next_attempt(event)
        if request is None:
            continue
        policy = event.retry_request.retry
        assert policy is not None  # next_attempt checked it
        due_at = now + backoff_delay(policy, event.retry_request.attempt, rng)
        planned.append(PendingRetry(request=request, due_at=due_at))
    return planned


def next_attempt(event: JobError) -> RunRequest | None:
    """The RunRequest of the attempt after the failed one ``event`` echoes, or None."""
    failed = event.retry_request
    assert failed is not None
    bound = make_run_id(failed.job_id, failed.scheduled_at, failed.attempt)
    policy = failed.retry
    if failed.run_id != event.run_id or failed.run_id != bound or failed.job_id != event.job_id:
        logger.warning("ignoring a retry request that does not match run %s", event.run_id)
        return None
    if policy is None or failed.attempt >= policy.max_attempts:
        logger.warning("ignoring a retry request beyond the policy of run %s", event.run_id)
        return None
    attempt = failed.attempt + 1
    # A retry is late by design (its backoff), so neither misfire grace nor coalescing
    # applies to it: they are about the trigger's schedule, which this run already had.
    return failed.model_copy(
        update={
            "attempt": attempt,
            "run_id": make_run_id(failed.job_id, failed.scheduled_at, attempt),
            "misfire_grace_time": None,
            "coalesce": False,
            "next_scheduled_at": None,
        }
    )
