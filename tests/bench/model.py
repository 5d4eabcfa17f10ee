"""What a scenario returns: table rows (dueq beside a reference) and its raw numbers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from tests.bench.services import Services

__all__ = ["Better", "Context", "Row", "ScenarioResult"]

T = TypeVar("T")


class Better(StrEnum):
    """Which direction of a metric is the good one (decides how the ratio is taken)."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(kw_only=True)
class Row:
    """One line of the table: a dueq number, a reference number, or both.

    ``ratio`` is always "times better than the reference" (> 1 means dueq wins), whatever
    the direction of the metric.  ``ok`` is the verdict on the issue's target, if it has one.
    """

    scenario: str
    metric: str
    unit: str
    better: Better
    dueq: float | None = None
    reference: str | None = None
    ref_value: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.dueq is None or self.ref_value is None:
            return None
        if any(math.isnan(v) or v == 0 for v in (self.dueq, self.ref_value)):
            return None
        if self.better is Better.HIGHER:
            return self.dueq / self.ref_value
        return self.ref_value / self.dueq

    def to_json(self) -> dict[str, Any]:
        """The row with its ratio, for the JSON results file."""
        return {**asdict(self), "ratio": self.ratio}


@dataclass(kw_only=True)
class ScenarioResult:
    """Rows for the table and everything measured, for the JSON file."""

    name: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


@dataclass(kw_only=True)
class Context:
    """What every scenario gets: services, size (quick or full), a log, shared measurements."""

    services: Services
    quick: bool
    log: Callable[[str], None]
    with_references: bool = True
    burst_sizes: list[int] | None = None  # --burst-sizes: instead of the size's default
    memo: dict[str, Any] = field(default_factory=dict)

    def size(self, full: T, quick: T) -> T:
        """``full`` normally, ``quick`` for the smoke run (``--quick``)."""
        return quick if self.quick else full

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``key`` is asked for in this run, then the same value.

        The broker ceiling is measured once per run and shared by the scenarios citing it.
        """
        if key not in self.memo:
            self.memo[key] = compute()
        value: T = self.memo[key]
        return value
