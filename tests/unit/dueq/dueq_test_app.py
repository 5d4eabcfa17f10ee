"""A tiny app for the embedded-mode tests: ``dueq up --app tests.unit.dueq.dueq_test_app``."""

from __future__ import annotations

from typing import Any

from dueq import job


@job("dueq-tests.double")
def double(n: int) -> int:
    """Returns 2 * n."""
    return 2 * n


@job("dueq-tests.boom")
def boom() -> None:
    """Always fails."""
    raise ValueError("boom")


def schedule(scheduler: Any) -> None:
    """Every 0.5 s: a success and a failure."""
    scheduler.add_job(
        double, "interval", seconds=0.5, args=[21], id="double", replace_existing=True
    )
    scheduler.add_job(boom, "interval", seconds=0.5, id="boom", replace_existing=True)


NOT_A_FUNCTION = 42
