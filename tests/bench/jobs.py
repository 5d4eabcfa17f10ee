"""The job dueq's workers run in the benchmarks (``--import tests.bench.jobs``)."""

from __future__ import annotations

__all__ = ["FUNC", "noop"]

# The wire reference of ``noop``, as a RunRequest's ``func``.
FUNC = "tests.bench.jobs:noop"


def noop(*_args: object, **_kwargs: object) -> None:
    """Do nothing: the benchmarks measure the scheduling and delivery around a job."""
