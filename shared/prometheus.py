"""``--metrics-port``: dueq's measurements as Prometheus metrics (the prometheus-client library).

Imported only when metrics are on, so a process without them never loads the library.
Each role gets its own names (``dueq_scheduler_*``, ``dueq_worker_*``) in a registry of
its own, served over HTTP by the library's server thread.

Label sets are bounded: queues and event kinds come from configuration and the protocol;
a ``job`` label (one series per job id) is added only with ``DUEQ_METRICS_JOB_LABELS``,
and never for rejected messages, whose job id is whatever a message claimed.

Several processes, one set of metrics: when ``PROMETHEUS_MULTIPROC_DIR`` names a directory
(a worker supervisor sets it before starting its children), every process writes its
values there and ``serve_multiprocess`` exposes their sum from the supervisor's port.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from dueq.shared.errors import ConfigError
from dueq.shared.metrics import Metrics
from dueq.shared.protocol import (
    Event,
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
)
from dueq.shared.protocol.runbytes import EncodedRun

__all__ = [
    "MULTIPROCESS_ENV",
    "PrometheusMetrics",
    "SupervisedMetrics",
    "mark_process_dead",
    "serve_multiprocess",
]

Role = Literal["scheduler", "worker"]

# Set by a supervisor of several worker processes; read by prometheus-client at import.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Lags and start delays: a healthy scheduler is in the milliseconds, a backlog in minutes.
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
# Job durations: from no-op jobs to hour-long reports.
_DURATION_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
_OUTCOMES: dict[type, str] = {
    JobExecuted: "executed",
    JobError: "error",
    JobMissed: "missed",
    JobMaxInstances: "max_instances",
    JobRejected: "rejected",
}


class PrometheusMetrics(Metrics):
    """``Metrics`` recorded in prometheus-client objects; ``serve`` exposes them."""

    def __init__(self, role: Role, *, job_labels: bool = False) -> None:
        self.role = role
        self.registry = CollectorRegistry()
        self._job_labels = job_labels
        self._server: Any = None
        self._port: int | None = None
        by_job = ("outcome", "job") if job_labels else ("outcome",)
        self._outcomes = self._counter("run_outcomes_total", "Run outcomes seen", by_job)
        self._durations = self._histogram(
            "run_duration_seconds", "How long runs took", by_job, _DURATION_BUCKETS
        )
        self._start_lag = self._histogram(
            "start_lag_seconds", "Scheduled time to start on a worker", (), _LAG_BUCKETS
        )
        self._events = self._counter("events_total", self._events_help(), ("event",))
        self._reconnects = self._counter(
            "reconnects_total", "Broker connections re-made", ("connection",)
        )
        if role == "scheduler":
            self._add_scheduler_metrics()
        else:
            self._add_worker_metrics()

    def _add_scheduler_metrics(self) -> None:
        self._published = self._counter("runs_published_total", "Runs published", ("queue",))
        self._publish_lag = self._histogram(
            "publish_lag_seconds", "Scheduled time to published", ("queue",), _LAG_BUCKETS
        )
        self._leader = self._gauge("leader", "1 while this scheduler holds the lease", "max")
        self._epoch = self._gauge("lease_epoch", "Epoch of the lease held (0: none)", "max")

    def _add_worker_metrics(self) -> None:
        self._claims = self._gauge("claims_held", "Runs executing (slots held)", "livesum")
        self._depth = Gauge(
            self._name("queue_depth"),
            "Messages ready in a run queue, as last seen",
            ("queue",),
            registry=self._registry_for_metrics(),
            multiprocess_mode="livemax",
        )

    def _events_help(self) -> str:
        return "Events recorded" if self.role == "scheduler" else "Events sent"

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Expose the metrics on ``http://host:port/metrics``; return the port bound."""
        registry = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped library
        self._server = _serve(port, host, registry)
        self._port = int(self._server.server_port)
        return self._port

    @property
    def port(self) -> int | None:
        return self._port

    def close(self) -> None:
        """Stop serving (if serving)."""
        server, self._server, self._port = self._server, None, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- Metrics ---------------------------------------------------------------------
    def runs_published(self, runs: Sequence[EncodedRun], confirmed_at: datetime) -> None:
        for run in runs:
            self._published.labels(run.queue).inc()
            lag = (run.published_at - run.scheduled_at).total_seconds()
            self._publish_lag.labels(run.queue).observe(max(lag, 0.0))

    def events_recorded(self, events: Sequence[Event]) -> None:
        self._observe(events)

    def events_emitted(self, events: Sequence[Event]) -> None:
        self._observe(events)

    def leadership(self, leading: bool, epoch: int | None) -> None:
        self._leader.set(1 if leading else 0)
        self._epoch.set(epoch or 0)

    def claims_held(self, count: int) -> None:
        self._claims.set(count)

    def queue_depth(self, queue: str, depth: int) -> None:
        self._depth.labels(queue).set(depth)

    def reconnected(self, connection: str) -> None:
        self._reconnects.labels(connection).inc()

    def _observe(self, events: Sequence[Event]) -> None:
        for event in events:
            self._events.labels(event.event.value).inc()
            outcome = _OUTCOMES.get(type(event))
            if outcome is None:
                continue
            labels = self._labels(outcome, event)
            self._outcomes.labels(*labels).inc()
            if isinstance(event, JobExecuted | JobError):
                # The start lag from the outcome, which every run that ran reports once: a
                # worker may fold a short job's job_started into it (docs/protocol.md).
                self._start_lag.observe(max(event.lateness_s, 0.0))
                self._durations.labels(*labels).observe(event.duration_s)

    def _labels(self, outcome: str, event: Event) -> tuple[str, ...]:
        if not self._job_labels:
            return (outcome,)
        # A rejected message's job id is whatever it claimed: never a label value.
        job = "" if isinstance(event, JobRejected) else str(getattr(event, "job_id", "") or "")
        return (outcome, job)

    # -- construction ----------------------------------------------------------------
    def _name(self, name: str) -> str:
        return f"dueq_{self.role}_{name}"

    def _registry_for_metrics(self) -> CollectorRegistry | None:
        # In multi-process mode values live in files and are collected from there.
        return None if os.environ.get(MULTIPROCESS_ENV) else self.registry

    def _counter(self, name: str, doc: str, labels: Sequence[str]) -> Counter:
        suffixless = name.removesuffix("_total")
        return Counter(self._name(suffixless), doc, labels, registry=self._registry_for_metrics())

    def _histogram(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        return Histogram(
            self._name(name), doc, labels, buckets=buckets, registry=self._registry_for_metrics()
        )

    def _gauge(self, name: str, doc: str, mode: Any) -> Gauge:
        return Gauge(
            self._name(name), doc, registry=self._registry_for_metrics(), multiprocess_mode=mode
        )


class SupervisedMetrics:
    """The metrics of a supervisor's worker processes, summed and served on one port.

    Create it in the supervisor *before* starting children: it points
    ``PROMETHEUS_MULTIPROC_DIR`` (in this process's environment, which children inherit) at
    a fresh directory, so each child's ``start_metrics`` records there instead of binding
    the port.  Call ``child_exited(pid)`` when a child ends (its live gauges drop out) and
    ``close()`` at the end.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._directory = tempfile.mkdtemp(prefix="dueq-metrics-")
        os.environ[MULTIPROCESS_ENV] = self._directory
        self._server = serve_multiprocess(self._directory, port, host)

    @property
    def port(self) -> int:
        """The port the sum is served on."""
        return int(self._server.server_port)

    def child_exited(self, pid: int) -> None:
        """Drop a finished child's live gauges (claims held, queue depth)."""
        mark_process_dead(pid, self._directory)  # type: ignore[no-untyped-call]  # untyped library

    def close(self) -> None:
        """Stop serving and remove the directory."""
        self._server.shutdown()
        self._server.server_close()
        if os.environ.get(MULTIPROCESS_ENV) == self._directory:
            del os.environ[MULTIPROCESS_ENV]
        shutil.rmtree(self._directory, ignore_errors=True)


def serve_multiprocess(directory: str, port: int, host: str = "127.0.0.1") -> Any:
    """Serve the sum of every process writing to ``directory``; return the HTTP server.

    For a supervisor of worker processes: set ``PROMETHEUS_MULTIPROC_DIR=directory`` in
    the children's environment, call this in the supervisor, and ``mark_process_dead(pid)``
    when a child exits so its live gauges drop out.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]  # untyped library
    return _serve(port, host, registry)


def _serve(port: int, host: str, registry: CollectorRegistry) -> Any:
    """The HTTP server of ``registry``; a port that cannot be bound is a ``ConfigError``.

    A port in use (or not ours to bind) is the setting to change, not an outage to retry.
    """
    try:
        server, _thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
            "(choose another --metrics-port / DUEQ_METRICS_PORT)"
        ) from exc
    return server
