"""``Worker``: wires registry, claims, executor, gate, slots, closer, lease keeper and
broker thread.

This is the object both the ``dueq worker`` command and the all-in-one ``dueq up`` use::

    worker = Worker(WorkerSettings(broker_url="memory://", imports=("myapp.jobs",)))
    worker.start()        # background thread; returns once consuming (worker_online sent)
    ...
    worker.stop()         # drain: running jobs finish, unstarted runs go back, offline sent

or ``worker.run()`` to block in the calling thread until ``request_stop()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata

from dueq.shared.collector import freeze_startup_heap
from dueq.shared.db import create_engine, upgrade_schema
from dueq.shared.errors import ConfigError
from dueq.shared.metrics import NO_METRICS, Metrics, start_metrics
from dueq.worker.admission import Gate
from dueq.worker.claims import ClaimStore, MemoryClaimStore, SqlClaimStore
from dueq.worker.closer import ClaimCloser
from dueq.worker.consumer import BrokerLoop, LoopConfig
from dueq.worker.executors import Executor, build_executor
from dueq.worker.handler import RunHandler
from dueq.worker.leases import LeaseKeeper, RunningRuns
from dueq.worker.outbox import Outbox
from dueq.worker.registry import Registry
from dueq.worker.reporter import Identity, Reporter
from dueq.worker.settings import WorkerSettings
from dueq.worker.slots import SlotPool

__all__ = ["Worker"]

log = logging.getLogger(__name__)

# AMQP's prefetch_count is an unsigned short.
MAX_PREFETCH = 65535
# How long start() waits for the broker thread to be consuming before giving up.
_DEFAULT_START_TIMEOUT_S = 60.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _version() -> str:
    try:
        return metadata.version("dueq")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Worker:
    """A dueq worker: consumes runs of its queues and executes the allowed functions."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        registry: Registry | None = None,
        clock: Callable[[], datetime] | None = None,
        claims: ClaimStore | None = None,
        executor: Executor | None = None,
        owns_process: bool = False,
    ) -> None:
        """``owns_process``: nothing but this worker runs in the process (``dueq worker``);
        once consuming, what start-up built is frozen out of the garbage collector's walks
        (``shared.collector.freeze_startup_heap``)."""
        self.settings = settings
        self._owns_process = owns_process
        self.registry = registry or Registry(
            settings.imports, allow_callables=settings.allow_callables
        )
        self._clock = clock or _utc_now
        self._claims = claims
        self._executor = executor
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._running = RunningRuns()
        self._metrics: Metrics = NO_METRICS

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` is served on while running (``--metrics-port``), or None."""
        return self._metrics.port

    @property
    def worker_id(self) -> str:
        """This worker's id, as in its events and claims."""
        return self.settings.worker_id

    @property
    def running(self) -> int:
        """Runs executing right now."""
        return len(self._running)

    def run(self) -> None:
        """Serve until ``request_stop()``; then drain and return (blocks the caller)."""
        settings = self.settings
        self.registry.load()
        claims = self._claims or self._build_claims()
        executor = self._executor or build_executor(
            settings.executor,
            concurrency=settings.concurrency,
            imports=settings.imports,
            allow_callables=settings.allow_callables,
        )
        self._log_start(claims)
        self._metrics = metrics = start_metrics("worker", settings)
        outbox, topology, signer = Outbox(), settings.topology(), settings.signer()
        identity = Identity.of_this_process(self.worker_id)
        reporter = Reporter(identity, topology, self._clock, metrics, signer)
        closer = ClaimCloser(claims=claims, running=self._running, clock=self._clock)
        handler = RunHandler(
            claims=claims,
            closer=closer,
            running=self._running,
            executor=executor,
            reporter=reporter,
            outbox=outbox,
            worker_id=self.worker_id,
            lease=settings.claim_lease,
            clock=self._clock,
            stopping=self._stop,
        )
        slots = SlotPool(settings.concurrency, handler.handle)
        gate = Gate(
            claims=claims,
            reporter=reporter,
            outbox=outbox,
            slots=slots,
            running=self._running,
            closer=closer,
            worker_id=self.worker_id,
            lease=settings.claim_lease,
            clock=self._clock,
            claim_lead=settings.claim_lead,
        )
        keeper = LeaseKeeper(
            claims=claims,
            running=self._running,
            outbox=outbox,
            topology=topology,
            worker_id=self.worker_id,
            lease=settings.claim_lease,
            clock=self._clock,
            reap=claims.durable,
            signer=signer,
            cancel=executor.cancel_run,
        )
        loop = BrokerLoop(
            self._loop_config(),
            registry=self.registry,
            executor=executor,
            reporter=reporter,
            outbox=outbox,
            gate=gate,
            slots=slots,
            running=lambda: len(self._running),
            metrics=metrics,
        )
        executor.start()
        closer.start()
        slots.start()
        gate.start()
        keeper.start()
        try:
            loop.run(self._stop, self._consuming)
        finally:
            # Claims of finished runs are written before the keeper stops renewing them.
            closer.stop(settings.shutdown_timeout.total_seconds())
            keeper.stop()
            if not slots.alive():
                executor.shutdown()
            if self._claims is None:
                claims.close()
            metrics.close()
            log.info("worker %s stopped", self.worker_id)

    def start(self, timeout: float = _DEFAULT_START_TIMEOUT_S) -> None:
        """Run in a background thread; return once it consumes (or raise why it could not)."""
        if self._thread is not None:
            raise RuntimeError("this worker was started already")
        self._thread = threading.Thread(target=self._run_recording, name="dueq-worker")
        self._thread.start()
        while not self._started.wait(0.05):
            if not self._thread.is_alive():
                raise self._error or RuntimeError("the worker stopped while starting")
            timeout -= 0.05
            if timeout <= 0:
                self.stop()
                raise TimeoutError("the worker did not start consuming in time")

    def _consuming(self) -> None:
        """The broker loop consumes: the worker has started."""
        if self._owns_process:
            freeze_startup_heap()
        self._started.set()

    def _run_recording(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # re-raised in start(); logged for run-time failures
            self._error = exc
            if self._started.is_set():
                log.exception("worker %s failed", self.worker_id)

    def request_stop(self) -> None:
        """Ask the worker to stop (safe from signal handlers and other threads)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop and wait for the drain (``shutdown_timeout`` plus a margin by default)."""
        self.request_stop()
        if self._thread is not None:
            if timeout is None:
                timeout = self.settings.shutdown_timeout.total_seconds() + 30
            self._thread.join(timeout)

    def _build_claims(self) -> ClaimStore:
        url = self.settings.database_url
        if url is None:
            return MemoryClaimStore()
        # No pre-ping: every claim call is retried on failure anyway, so a stale pooled
        # connection costs one failed attempt instead of a round trip on every checkout.
        engine = create_engine(url.reveal(), pre_ping=False, schema=self.settings.database_schema)
        upgrade_schema(engine)
        return SqlClaimStore(engine)

    def _loop_config(self) -> LoopConfig:
        settings = self.settings
        return LoopConfig(
            broker_url=settings.broker_url.reveal(),
            connection_name=f"dueq-worker {self.worker_id}",
            topology=settings.topology(),
            queues=settings.queues,
            prefetch=min(settings.concurrency * settings.prefetch_multiplier, MAX_PREFETCH),
            heartbeat_interval=settings.heartbeat_interval.total_seconds(),
            shutdown_timeout=settings.shutdown_timeout.total_seconds(),
            signer=settings.signer(),
            version=_version(),
        )

    def _log_start(self, claims: ClaimStore) -> None:
        settings = self.settings
        if not self.registry.prefixes and not self.registry.names:
            raise ConfigError("no job is allowed: start the worker with --import MODULE")
        log.info(
            "worker %s: queues %s, %s executor x %d, jobs from %s (registered: %s)",
            self.worker_id,
            ", ".join(settings.queues),
            settings.executor.value,
            settings.concurrency,
            ", ".join(self.registry.prefixes) or "-",
            ", ".join(self.registry.names) or "-",
        )
        if claims.durable:
            log.info(
                "max_instances and dedupe hold fleet-wide (database %s)", settings.database_url
            )
        else:
            log.info(
                "no database URL: max_instances and dedupe hold per worker process only, and "
                "runs longer than RabbitMQ's consumer ack timeout (30 min by default, divided "
                "by --prefetch-multiplier, as an unstarted run may wait one job's time for "
                "a slot) would be redelivered; give --database-url for both"
            )
