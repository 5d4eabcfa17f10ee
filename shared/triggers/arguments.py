"""Checks for the plain-number arguments triggers take.

``bool`` is an ``int`` in Python; ``hours=True`` is always a mistake, so it is refused.
"""

from __future__ import annotations

import math

from dueq.shared.errors import InvalidTriggerError

__all__ = ["check_count", "check_jitter", "check_quantity"]


def check_jitter(value: object) -> float | None:
    """``jitter`` in seconds: None, or a finite number >= 0."""
    if value is None:
        return None
    return check_quantity("jitter", value)


def check_quantity(field: str, value: object) -> float:
    """A finite, non-negative int or float (interval lengths, jitter)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTriggerError(field, value, "expected a number")
    if not math.isfinite(value) or value < 0:
        raise InvalidTriggerError(field, value, "must be a finite number >= 0")
    return float(value)


def check_count(field: str, value: object, low: int = 0, high: int | None = None) -> int:
    """A whole number within ``[low, high]`` (calendar steps, hour/minute/second)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTriggerError(field, value, "expected a whole number")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidTriggerError(field, value, f"must be within {bounds}")
    return value
