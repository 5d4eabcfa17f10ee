"""The metrics hook: what scheduler and worker report, and the no-op used when it is off.

Components take a ``Metrics`` object (passed in, never global) and call it at the few
points where something countable happens: a batch published, a batch of events recorded,
an outcome reported, a reconnect.  ``Metrics()`` itself does nothing, so code never checks
whether metrics are on; ``shared.prometheus.PrometheusMetrics`` records them for
``--metrics-port``.  Every call takes a whole batch where the caller has one, so the cost
stays per batch, not per run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dueq.shared.errors import ConfigError
from dueq.shared.protocol import Event
from dueq.shared.protocol.runbytes import EncodedRun
from dueq.shared.settings import DueqSettings

__all__ = ["NO_METRICS", "Metrics", "start_metrics", "start_supervised_metrics"]


class Metrics:
    """Receives measurements; this base class drops them (metrics off)."""

    def runs_published(self, runs: Sequence[EncodedRun], confirmed_at: datetime) -> None:
        """The scheduler published ``runs`` and the broker confirmed them at ``confirmed_at``."""

    def events_recorded(self, events: Sequence[Event]) -> None:
        """The scheduler wrote ``events`` into run history (one committed batch)."""

    def events_emitted(self, events: Sequence[Event]) -> None:
        """A worker sent ``events`` (outcomes, liveness) to the events queue."""

    def leadership(self, leading: bool, epoch: int | None) -> None:
        """This scheduler gained or lost the leader lease (``epoch`` of the lease it holds)."""

    def claims_held(self, count: int) -> None:
        """A worker holds ``count`` instance slots (runs executing) right now."""

    def queue_depth(self, queue: str, depth: int) -> None:
        """A worker saw ``depth`` messages ready in its run queue ``queue``."""

    def reconnected(self, connection: str) -> None:
        """The broker connection ``connection`` (scheduler, events, worker) was re-made."""

    @property
    def port(self) -> int | None:
        """The port the metrics are served on, or None when they are not served."""
        return None

    def close(self) -> None:
        """Stop serving the metrics (if served)."""


NO_METRICS = Metrics()


def start_supervised_metrics(settings: DueqSettings) -> Any:
    """For ``dueq worker --processes``: a ``SupervisedMetrics`` serving the children's sum
    on ``metrics_port``, or None when metrics are off.  Call before starting children."""
    if settings.metrics_port is None:
        return None
    try:
        from dueq.shared.prometheus import SupervisedMetrics
    except ImportError as exc:
        raise ConfigError(
            f"--metrics-port needs prometheus-client: pip install 'dueq[metrics]' ({exc})"
        ) from exc
    return SupervisedMetrics(settings.metrics_port, settings.metrics_host)


def start_metrics(role: str, settings: DueqSettings) -> Metrics:
    """Metrics for ``role`` ("scheduler" or "worker"), served when ``metrics_port`` is set.

    Raises ``ConfigError`` when metrics are asked for but prometheus-client is missing.
    """
    if settings.metrics_port is None:
        return NO_METRICS
    try:
        # Imported only here: a process without metrics never loads the library.
        from dueq.shared.prometheus import MULTIPROCESS_ENV, PrometheusMetrics
    except ImportError as exc:
        raise ConfigError(
            f"--metrics-port needs prometheus-client: pip install 'dueq[metrics]' ({exc})"
        ) from exc
    metrics = PrometheusMetrics(
        "scheduler" if role == "scheduler" else "worker",
        job_labels=settings.metrics_job_labels,
    )
    if not os.environ.get(MULTIPROCESS_ENV):
        # Under a supervisor (PROMETHEUS_MULTIPROC_DIR set) values go to files and the
        # supervisor serves their sum; a child binding the port would collide.
        metrics.serve(settings.metrics_port, settings.metrics_host)
    return metrics
