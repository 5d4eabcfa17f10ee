"""A dueq deployment for one scenario: N worker processes and one scheduler process.

Workers run bare (max_instances and dedupe per process) or, with ``worker_database``, in
the production configuration the README recommends (``--database-url``: fleet-wide).

Workers are the real ``dueq worker`` command (its click command, called directly); the
scheduler is the product's ``BackgroundScheduler`` in ``tests.bench.dueq_sched`` (the
service ``dueq scheduler`` runs, plus a hook timing each confirmed batch).  Everything
runs against names of its own (``dqb-...``) that ``close()`` deletes.
"""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import time
from typing import Any

from sqlalchemy.engine import Engine

from dueq.shared.topology import Topology
from tests.bench.dueq_store import count_outcomes
from tests.bench.procs import log_tail, python_process, stop_process
from tests.bench.services import (
    Services,
    amqp_connection,
    delete_broker_names,
    queue_depth,
    unique_name,
)
from tests.bench.stats import ProcessSampler

__all__ = ["DueqCluster"]

# Threads per worker process: the worker's default concurrency (also its prefetch).
WORKER_CONCURRENCY = 8
# Seconds to wait for processes to come up on a loaded 2-core machine.
_START_TIMEOUT_S = 60.0
# With both queues empty, an outcome count unchanged this long will not change any more.
_SETTLE_S = 5.0


class DueqCluster:
    """Start workers and a scheduler, sample their memory, stop them, clean up."""

    def __init__(
        self,
        services: Services,
        *,
        database_url: str,
        tag: str,
        worker_database: bool = False,
        concurrency: int = WORKER_CONCURRENCY,
    ) -> None:
        self.services = services
        self.database_url = database_url
        self.prefix = unique_name(tag)
        self.topology = Topology(prefix=self.prefix)
        self._worker_database = worker_database
        self._concurrency = concurrency
        self._workers: list[subprocess.Popen[bytes]] = []
        self._consumers = 0  # worker processes consuming the run queue (children included)
        self._scheduler: subprocess.Popen[bytes] | None = None
        self._out = services.workdir / f"{self.prefix}-scheduler.json"
        self.sampler: ProcessSampler | None = None

    def start_workers(self, count: int, *, processes: int = 1) -> None:
        """Start ``count`` ``dueq worker --processes N`` commands; wait until all consume."""
        args = [
            # The ``dueq worker`` command itself, without the rest of the CLI around it.
            "-c", "from dueq.worker.cli import worker_command; worker_command()",
            "--import", "tests.bench.jobs",
            "--broker-url", self.services.broker_url, "--prefix", self.prefix,
            "--concurrency", str(self._concurrency),
        ]  # fmt: skip
        if self._worker_database:
            args += ["--database-url", self.database_url]
        if processes > 1:
            args += ["--processes", str(processes)]
        self._workers += [python_process(args, {}, self.services) for _ in range(count)]
        self._consumers += count * processes
        self._wait_for_consumers(self._consumers)

    def worker_pids(self) -> list[int]:
        """The pids of the worker commands started (supervisors, with ``--processes``)."""
        return [w.pid for w in self._workers]

    def start_scheduler(
        self, batch_size: int | None = None, lookahead: float | None = None
    ) -> float:
        """Start the scheduler (the product's look-ahead unless given); when it leads."""
        args = [
            "-m", "tests.bench.dueq_sched", "--database-url", self.database_url,
            "--broker-url", self.services.broker_url, "--prefix", self.prefix,
            "--out", str(self._out),
        ]  # fmt: skip
        if batch_size:
            args += ["--batch-size", str(batch_size)]
        if lookahead is not None:
            args += ["--lookahead-seconds", str(lookahead)]
        proc = python_process(args, {}, self.services, stdout=subprocess.PIPE)
        self._scheduler = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], _START_TIMEOUT_S)
        line = proc.stdout.readline() if ready else b""
        if not line:
            stop_process(proc)  # so its log is complete before we read it
            raise RuntimeError(f"the scheduler did not start:\n{log_tail(proc)}")
        started: dict[str, Any] = json.loads(line)
        if not started["leader"]:
            raise RuntimeError("the scheduler did not become leader")
        return float(started["ready"])

    def sample(self) -> ProcessSampler:
        """A sampler of the scheduler's and workers' memory and CPU (use as a context)."""
        pids = {f"worker{i}": p.pid for i, p in enumerate(self._workers)}
        if self._scheduler is not None:
            pids["scheduler"] = self._scheduler.pid
        self.sampler = ProcessSampler(pids)
        return self.sampler

    def stop_scheduler(self) -> dict[str, Any]:
        """Stop the scheduler; returns its batch log and RSS."""
        if self._scheduler is None:
            return {}
        code = stop_process(self._scheduler)
        self._scheduler = None
        if code != 0 or not self._out.exists():
            raise RuntimeError(f"the scheduler exited {code}")
        result: dict[str, Any] = json.loads(self._out.read_text())
        self._out.unlink()
        return result

    def close(self) -> None:
        """Stop every process and delete this deployment's queues and exchanges."""
        with contextlib.suppress(Exception):
            self.stop_scheduler()
        for worker in self._workers:
            stop_process(worker)
        self._workers.clear()
        self._consumers = 0
        topo = self.topology
        delete_broker_names(
            self.services.broker_url,
            [topo.run_queue("default"), topo.events_queue, topo.dead_letter_queue],
            [
                topo.runs_exchange,
                topo.dead_letter_exchange,
                topo.control_exchange,
                topo.listeners_exchange,
            ],
        )

    def __enter__(self) -> DueqCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def wait_for_outcomes(
        self,
        engine: Engine,
        expected: int,
        timeout: float,
        *,
        before: float | None = None,
        not_before: float | None = None,
    ) -> dict[str, Any]:
        """Wait until the history holds ``expected`` outcomes, or nothing moves any more.

        "Nothing moves" means the run and events queues are empty and the count has not
        changed for ``_SETTLE_S``: whatever is missing then was never reported (lost),
        rather than not yet written by the scheduler's events consumer.  Nothing can move
        before the runs are due, so that judgement waits for ``not_before`` (wall time):
        without it a burst whose jobs are due later looked settled, and lost, at once.
        """
        deadline = time.monotonic() + timeout
        queues = [self.topology.run_queue("default"), self.topology.events_queue]
        done, changed = -1, time.monotonic()
        with contextlib.closing(amqp_connection(self.services.broker_url)) as conn:
            channel = conn.channel()
            while time.monotonic() < deadline:
                count = count_outcomes(engine, before=before)
                if count != done:
                    done, changed = count, time.monotonic()
                if done >= expected:
                    return {"outcomes": done, "settled": True}
                due = not_before is None or time.time() >= not_before
                idle = due and all(queue_depth(channel, q) == 0 for q in queues)
                if idle and time.monotonic() - changed > _SETTLE_S:
                    return {"outcomes": done, "settled": True}
                time.sleep(0.25)  # the history is written by another process: poll it
        return {"outcomes": done, "settled": False}

    def _wait_for_consumers(self, count: int) -> None:
        queue = self.topology.run_queue("default")
        deadline = time.monotonic() + _START_TIMEOUT_S
        with contextlib.closing(amqp_connection(self.services.broker_url)) as conn:
            while time.monotonic() < deadline:
                for worker in self._workers:
                    if worker.poll() is not None:
                        raise RuntimeError(f"a worker exited:\n{log_tail(worker)}")
                channel = conn.channel()
                try:
                    _name, _ready, consumers = channel.queue_declare(queue=queue, passive=True)
                    channel.close()
                except Exception:  # not declared yet: the channel is closed by the broker
                    consumers = 0
                if consumers >= count:
                    return
                time.sleep(0.1)  # the workers are other processes: poll the broker
        raise TimeoutError(f"{count} worker(s) did not start consuming {queue}")
