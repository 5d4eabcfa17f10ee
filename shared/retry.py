"""Retrying transient service errors, the same way everywhere.

Adapters decide once what is transient (they raise ``ServiceUnavailable`` subclasses for
it); everything else is permanent and propagates at once.  Every failed attempt is logged
with its number and the (already redacted) reason, so an outage is visible in the logs
while the process rides it out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_random,
)

from dueq.shared.errors import ServiceUnavailable

__all__ = ["call_with_retry", "retrying"]

T = TypeVar("T")

# Backoff from 0.1 s doubling to at most 5 s: a broker restart (a few seconds) is bridged
# within one or two attempts, and a long outage costs one attempt every ~5 s.
_INITIAL_WAIT_S = 0.1
_MAX_WAIT_S = 5.0


def retrying(
    what: str,
    logger: logging.Logger,
    *,
    give_up_after: float | None = None,
    transient: tuple[type[BaseException], ...] = (ServiceUnavailable,),
    max_wait: float = _MAX_WAIT_S,
) -> Retrying:
    """A tenacity ``Retrying`` for ``what`` that retries only ``transient`` errors.

    ``give_up_after`` (seconds) bounds the total time; None retries until it succeeds,
    which is right for long-running services that must ride out any outage.
    """

    def log_attempt(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        logger.warning("temporary %s error (attempt %d): %s", what, state.attempt_number, error)

    return Retrying(
        retry=retry_if_exception_type(transient),
        # Random spread keeps a fleet of workers from reconnecting in lock-step.
        wait=wait_exponential(multiplier=_INITIAL_WAIT_S, max=max_wait)
        + wait_random(0, _INITIAL_WAIT_S),
        stop=stop_never if give_up_after is None else stop_after_delay(give_up_after),
        before_sleep=log_attempt,
        reraise=True,
    )


def call_with_retry(
    what: str,
    logger: logging.Logger,
    func: Callable[[], T],
    *,
    give_up_after: float | None = None,
) -> T:
    """Call ``func`` until it stops raising transient errors (see ``retrying``)."""
    return retrying(what, logger, give_up_after=give_up_after)(func)
