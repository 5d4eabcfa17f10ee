"""One test's rig: its broker prefix, schema, processes, proxies, tap and ledger.

Everything a fault test needs to set up a deployment and to tell, at the end, whether a
run was lost or executed twice.  The ``rig`` fixture (conftest) builds one per test and
tears it down: processes killed, proxies closed, the prefix's queues and exchanges deleted.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dueq.producer import Scheduler
from dueq.shared.broker import BrokerConnection
from dueq.shared.errors import BrokerUnavailable
from dueq.shared.topology import Topology
from dueq.shared.triggers import IntervalTrigger, Trigger
from tests.faults.faults_ledger import Ledger, Tally, expected_runs
from tests.faults.faults_procs import Proc, ProcessGroup
from tests.faults.faults_proxy import TcpProxy
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

__all__ = [
    "CLAIM_LEASE_S",
    "FAULT_JOB",
    "OPEN_WINDOW_S",
    "SCHEDULER_LEASE_S",
    "JobSpec",
    "Rig",
    "closed_port",
    "interval_jobs",
    "soon",
    "with_address",
]

FAULT_JOB = "tests.faults.fault_jobs:record"
# Leader lease of the schedulers under test: a dead leader is replaced within 2 s.
SCHEDULER_LEASE_S = 2.0
# Claim lease of the workers under test: a dead worker's slots free within 3 s.
CLAIM_LEASE_S = 3.0
# Trigger window of jobs that outlast a test (``Rig.add_open_jobs``): it only bounds the
# run-times enumerated up front.
OPEN_WINDOW_S = 600.0
# max_instances of the jobs of outage tests: after an outage the backlog of a job's missed
# run-times arrives at once, and these tests check that each one *executes* (test 4
# checks the limit itself, with max_instances=1).
CATCH_UP_INSTANCES = 50


@dataclass(frozen=True)
class JobSpec:
    """A fault job to add: its trigger, how long each run takes, and its limits."""

    job_id: str
    trigger: Trigger
    seconds: float = 0.0
    misfire_grace_time: float | None = None
    max_instances: int = 1
    # A file the run waits for before it ends (``Rig.gate``): it runs until the test says.
    gate: Path | None = None


def interval_jobs(
    count: int,
    *,
    every: float,
    start: datetime,
    window: float,
    prefix: str = "job",
    misfire_grace_time: float | None = None,
    max_instances: int = CATCH_UP_INSTANCES,
) -> list[JobSpec]:
    """``count`` jobs firing every ``every`` seconds from ``start`` for ``window`` seconds."""
    end = start + timedelta(seconds=window)
    return [
        JobSpec(
            f"{prefix}-{n}",
            IntervalTrigger(seconds=every, start_date=start, end_date=end),
            misfire_grace_time=misfire_grace_time,
            max_instances=max_instances,
        )
        for n in range(count)
    ]


def closed_port() -> int:
    """A local port where nothing listens (bound, then released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def with_address(url: str, *, port: int, userinfo: str | None = None) -> str:
    """``url`` pointing at 127.0.0.1:``port``, with its credentials or ``userinfo``."""
    parts = urlsplit(url)
    kept = parts.netloc.rpartition("@")[0] if userinfo is None else userinfo
    netloc = f"{kept}@127.0.0.1:{port}" if kept else f"127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


def soon(seconds: float) -> datetime:
    """A UTC time ``seconds`` from now, on a whole tenth of a second (readable logs)."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return at.replace(microsecond=at.microsecond // 100_000 * 100_000)


class Rig:
    """The deployment under test and the instruments around it."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        topology: Topology,
        ledger: Ledger,
        procs: ProcessGroup,
        directory: Path,
    ) -> None:
        self.broker_url = broker_url
        self.database_url = database_url
        self.topology = topology
        self.ledger = ledger
        self.procs = procs
        self.directory = directory
        self.proxies: list[TcpProxy] = []
        self.taps: list[RabbitTap] = []
        self.expected: dict[str, datetime] = {}
        self._per_job: dict[str, dict[str, datetime]] = {}
        self._uncommitted: dict[str, datetime] = {}
        self._probe: BrokerConnection | None = None

    # -- instruments ----------------------------------------------------------------

    def proxy(self, url: str, name: str) -> tuple[TcpProxy, str]:
        """A fault proxy in front of the service ``url`` points at, and the proxied URL."""
        parts = urlsplit(url)
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 0, name=name).start()
        self.proxies.append(proxy)
        return proxy, proxy.url_for(url)

    def tap_runs(self, queue: str = "default") -> RabbitTap:
        """A tap on the runs exchange: a copy of every RunRequest routed to ``queue``."""
        tap = RabbitTap(self.broker_url, bind=[(self.topology.runs_exchange, queue)]).start()
        self.taps.append(tap)
        return tap

    def tap_queues(self, queues: Sequence[str]) -> RabbitTap:
        """A consumer of ``queues`` themselves (events and dead letters, with no scheduler)."""
        tap = RabbitTap(self.broker_url, queues=queues).start()
        self.taps.append(tap)
        return tap

    def queue_depth(self, queue: str = "default") -> int:
        """Messages ready in the run queue ``queue``."""
        name = self.topology.run_queue(queue)
        for _attempt in range(2):
            if self._probe is None:
                self._probe = BrokerConnection(self.broker_url, name="faults-probe")
            try:
                self._probe.connect()
                return self._probe.queue_depth(name)
            except BrokerUnavailable:
                self._probe.close()
                self._probe = None  # idle too long (heartbeats): open a new one
        raise AssertionError("cannot read the run queue's depth")

    def gate(self, name: str) -> Path:
        """A gate for ``JobSpec.gate``: its runs hold until ``open_gate`` (not yet open)."""
        return self.directory / f"gate-{name}"

    @staticmethod
    def open_gate(gate: Path) -> float:
        """Let the runs held by ``gate`` end; returns the time."""
        gate.touch()
        return time.time()

    # -- the deployment ---------------------------------------------------------------

    def add_jobs(
        self, specs: Iterable[JobSpec], *, clock_offset: float = 0.0
    ) -> dict[str, datetime]:
        """Add the jobs through the scheduler API (a client, never started).

        ``clock_offset``: the client's clock runs this many seconds ahead (or behind, if
        negative).  Returns the expected run-times (also accumulated in ``self.expected``).
        """
        offset = timedelta(seconds=clock_offset)

        def clock() -> datetime:
            return datetime.now(UTC) + offset

        client = Scheduler(
            database_url=self.database_url,
            broker_url=self.broker_url,
            prefix=self.topology.prefix,
            clock=clock,
        )
        expected: dict[str, datetime] = {}
        try:
            for spec in specs:
                now = clock()
                client.add_job(
                    FAULT_JOB,
                    spec.trigger,
                    id=spec.job_id,
                    kwargs={
                        "seconds": spec.seconds,
                        **({"gate": str(spec.gate)} if spec.gate is not None else {}),
                    },
                    coalesce=False,
                    misfire_grace_time=spec.misfire_grace_time,
                    max_instances=spec.max_instances,
                )
                runs = expected_runs(spec.job_id, spec.trigger, now)
                self._per_job[spec.job_id] = runs
                expected.update(runs)
        finally:
            client.shutdown()
        self.expected.update(expected)
        return expected

    def add_open_jobs(self, specs: Iterable[JobSpec], *, clock_offset: float = 0.0) -> None:
        """Add jobs whose triggers outlast the test; ``stop_and_expect_committed`` ends them.

        A fixed window would have to outlast every fault of a test on a host of unknown
        load; instead the test stops the scheduler when its faults are done.
        """
        self.add_jobs(specs, clock_offset=clock_offset)

    def stop_and_expect_committed(self, *schedulers: Proc) -> None:
        """Stop the schedulers cleanly, then expect what they published.

        Every run-time before a job's committed next run time was published and must
        execute exactly once.  A batch published just before the stop may not have been
        committed (a later leader would publish it again): its runs are expected too, but
        only once they are seen executing (see ``wait_drained``).
        """
        for proc in schedulers:
            assert proc.terminate() == 0, proc.tail()
        committed = self.ledger.next_run_times()
        self._uncommitted = {}
        self.expected = {}
        for job_id, runs in self._per_job.items():
            if job_id not in committed:  # its trigger ended: every run-time was published
                self.expected.update(runs)
                continue
            until = committed[job_id]
            if until is None:  # its last run-time was published; removal follows
                self.expected.update(runs)
                continue
            for run_id, at in runs.items():
                (self.expected if at < until else self._uncommitted)[run_id] = at

    def keep_history(self, name: str = "history") -> Proc:
        """After ``stop_and_expect_committed``: a scheduler that only records outcomes.

        Only the leader records the workers' events in the run history (missed and
        max_instances outcomes live nowhere else).  The test's jobs are removed from the
        store first, so this leader publishes nothing and records what is still coming.
        """
        client = Scheduler(
            database_url=self.database_url, broker_url=self.broker_url, prefix=self.topology.prefix
        )
        try:
            client.remove_all_jobs()
        finally:
            client.shutdown()
        return self.scheduler(name)

    def wait_drained(self, *, timeout: float, killed_pids: Iterable[int] = ()) -> float:
        """Wait until the queue is empty, no claim runs, every expected run-time executed.

        ``wait_settled`` for open jobs (which stay in the store); returns the wait in s.
        ``killed_pids``: workers the test killed (their executions are interrupted).
        """
        begin = time.monotonic()
        killed = list(killed_pids)
        wait_until(
            lambda: self.queue_depth() == 0 and self.ledger.running_claims() == 0,
            "the run queue and the claims to be idle",
            timeout=timeout,
        )
        executed = {e.run_id for e in self.ledger.executions()}
        self.expected.update({r: at for r, at in self._uncommitted.items() if r in executed})
        wait_until(
            lambda: self.ledger.settled(self.expected, killed),
            "every published run-time to execute or be reported",
            timeout=timeout,
            describe=lambda: f" ({self.tally(killed_pids=killed).line()})",
        )
        return time.monotonic() - begin

    def scheduler(
        self,
        name: str,
        *,
        broker_url: str | None = None,
        database_url: str | None = None,
        scheduler_id: str | None = None,
        lease: float = SCHEDULER_LEASE_S,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        """Start ``dueq scheduler`` (through proxies if their URLs are given)."""
        options = [
            "--broker-url", broker_url or self.broker_url,
            "--database-url", database_url or self.database_url,
            "--prefix", self.topology.prefix,
            "--lease-seconds", str(lease),
            "--max-sleep-seconds", "1",
            *(["--scheduler-id", scheduler_id] if scheduler_id else []),
            *extra,
        ]  # fmt: skip
        return self.procs.scheduler(name, *options, env=env)

    def worker(
        self,
        name: str,
        *,
        broker_url: str | None = None,
        database_url: str | None = None,
        concurrency: int = 4,
        claim_lease: float = CLAIM_LEASE_S,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        """Start ``dueq worker`` with fleet claims in the test's database."""
        options = [
            "--broker-url", broker_url or self.broker_url,
            "--database-url", database_url or self.database_url,
            "--prefix", self.topology.prefix,
            "--concurrency", str(concurrency),
            *extra,
        ]  # fmt: skip
        return self.procs.worker(
            name, *options, env={"DUEQ_CLAIM_LEASE": str(claim_lease), **(env or {})}
        )

    def wait_consuming(self, *workers: Proc, timeout: float = 30.0) -> None:
        """Wait until each worker logs that it consumes its queue."""
        for worker in workers:
            worker.wait_for_log(r"consuming default", timeout=timeout)

    # -- verdicts ---------------------------------------------------------------------

    def wait_settled(
        self, *, timeout: float, killed_pids: Iterable[int] = (), what: str = "every run"
    ) -> float:
        """Wait until every expected run-time is accounted for and the system is idle.

        Accounted for: executed (the job finished) or reported missed/max_instances.
        Idle: no job left in the store, no run waiting in the queue, no claim running;
        so a duplicate that was going to execute has executed.  Returns the wait in s.
        """
        begin = time.monotonic()
        killed = list(killed_pids)
        wait_until(
            lambda: self.ledger.settled(self.expected, killed),
            f"{what} to be executed or reported",
            timeout=timeout,
            describe=lambda: f" ({self.tally(killed_pids=killed).line()})",
        )
        wait_until(
            lambda: (
                self.ledger.jobs_left() == 0
                and self.queue_depth() == 0
                and self.ledger.running_claims() == 0
            ),
            "the store, the run queue and the claims to be idle",
            timeout=timeout,
        )
        return time.monotonic() - begin

    def wait_tap_caught_up(self, tap: RabbitTap, *, timeout: float) -> None:
        """Wait until ``tap`` has seen every run that executed (it reads in a thread of its
        own, so the last runs the schedulers published may still be on their way to it)."""
        wait_until(
            lambda: (
                {e.run_id for e in self.ledger.executions()} <= {r.run_id for _, r in tap.runs()}
            ),
            "the tap to see every run that executed",
            timeout=timeout,
        )

    def tally(self, *, tap: RabbitTap | None = None, killed_pids: Iterable[int] = ()) -> Tally:
        """The ledger's verdict on every expected run-time so far."""
        published = [run for _, run in tap.runs()] if tap is not None else []
        return self.ledger.tally(self.expected, published=published, killed_pids=killed_pids)

    def close(self) -> None:
        """Tear the rig down (processes first, so nothing reconnects meanwhile)."""
        self.procs.close()
        for proxy in self.proxies:
            proxy.close()
        for tap in self.taps:
            tap.close()
        if self._probe is not None:
            self._probe.close()
        self.ledger.close()
