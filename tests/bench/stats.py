"""Small statistics the scenarios share: lag summaries, rates, memory and CPU sampling."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import psutil

__all__ = ["ProcessSampler", "lag_summary", "percentile", "rate"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method (no interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def lag_summary(lags_s: Sequence[float]) -> dict[str, float]:
    """p50/p99/max (and n) of lags given in seconds, reported in milliseconds."""
    if not lags_s:
        return {"n": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    return {
        "n": len(lags_s),
        "p50_ms": round(percentile(lags_s, 50) * 1000, 2),
        "p99_ms": round(percentile(lags_s, 99) * 1000, 2),
        "max_ms": round(max(lags_s) * 1000, 2),
    }


def rate(count: float, seconds: float) -> float:
    """``count`` per second, NaN when no time passed."""
    return count / seconds if seconds > 0 else math.nan


class ProcessSampler:
    """Samples the RSS (and keeps the peak) of processes while a scenario runs.

    Sampling every 200 ms costs nothing measurable and catches the peak of a burst.
    """

    def __init__(self, pids: dict[str, int], interval: float = 0.2) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._interval = interval
        self._peak: dict[str, int] = dict.fromkeys(pids, 0)
        self._cpu: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        for name, proc in self._procs.items():
            try:
                self._peak[name] = max(self._peak[name], proc.memory_info().rss)
                times = proc.cpu_times()
                self._cpu[name] = times.user + times.system
            except psutil.Error:
                continue  # the process ended: keep what was seen

    def result(self) -> dict[str, Any]:
        """Peak RSS in MB and CPU seconds used, per process name."""
        return {
            name: {
                "peak_rss_mb": round(self._peak[name] / 2**20, 1),
                "cpu_s": round(self._cpu[name], 2),
            }
            for name in self._procs
        }
