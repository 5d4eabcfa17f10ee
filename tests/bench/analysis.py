"""Turning what a dueq deployment recorded into the scenarios' numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tests.bench.dueq_store import RunRow
from tests.bench.stats import lag_summary

__all__ = ["confirmed_by", "summarize_runs"]


def confirmed_by(batches: Sequence[Sequence[float]], count: int) -> float | None:
    """When the scheduler's confirmed batches first added up to ``count`` runs."""
    total = 0
    for at, size in sorted((float(b[0]), int(b[1])) for b in batches):
        total += size
        if total >= count:
            return at
    return None


def summarize_runs(runs: Sequence[RunRow], *, expected: int) -> dict[str, Any]:
    """Lags (publish: published - scheduled; start: started - scheduled) and outcomes."""
    statuses = Counter(r.status for r in runs)
    publish = [r.published - r.scheduled for r in runs if r.published is not None]
    start = [r.started - r.scheduled for r in runs if r.started is not None]
    executed = statuses.get("executed", 0)
    return {
        "expected": expected,
        "recorded": len(runs),
        "statuses": dict(statuses),
        "lost": expected - executed,
        "publish_lag": lag_summary(publish),
        "start_lag": lag_summary(start),
        "last_published": max((r.published for r in runs if r.published), default=None),
        "last_started": max((r.started for r in runs if r.started), default=None),
    }
