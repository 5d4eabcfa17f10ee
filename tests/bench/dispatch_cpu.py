"""The leader's CPU per run in a burst: fetch, plan, encode, publish, confirm, commit.

A micro harness, not a ``make bench`` scenario: wall times on a shared 2-core machine are
noisy, CPU per run of the one thread that does the work is far less so.  It drives the real
``SchedulingLoop`` (PostgreSQL store and lease, RabbitMQ publisher with confirms) over N
one-shot jobs already due, in a schema and a broker prefix of its own, and prints the
loop's CPU and wall time per run::

    python -m tests.bench.dispatch_cpu --runs 10000 [--repeat 3] [--profile out.prof]

The run queue is deleted afterwards, so the broker keeps nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dueq.producer.backend import Backend, open_backend
from dueq.producer.leadership import Leadership
from dueq.producer.loop import SchedulingLoop
from dueq.producer.publisher import BrokerRunPublisher
from dueq.producer.settings import SchedulerSettings
from dueq.shared.broker import BrokerConnection
from dueq.shared.topology import Topology
from tests.bench.dueq_store import burst_jobs

__all__ = ["measure"]

_POSTGRES = os.environ.get(
    "DUEQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_RABBITMQ = os.environ.get("DUEQ_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _cpu() -> float:
    """CPU seconds of this thread (the loop runs on it; nothing else here does work)."""
    return time.thread_time()


@contextmanager
def _schema() -> Iterator[str]:
    name = f"dqcpu_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(_POSTGRES)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        engine.dispose()


def _loop(backend: Backend, connection: BrokerConnection, topology: Topology) -> SchedulingLoop:
    settings = SchedulerSettings(broker_url=_RABBITMQ, database_url=_POSTGRES)
    leadership = Leadership(backend.leader, f"cpu-{os.getpid()}", timedelta(seconds=60))
    return SchedulingLoop(
        store=backend.store,
        leadership=leadership,
        publisher=BrokerRunPublisher(connection, topology),
        settings=settings,
        emit=lambda event: None,
    )


def measure(runs: int, profile: str | None = None) -> tuple[float, float]:
    """Publish a burst of ``runs``; return (CPU µs per run, wall s) of the loop's ticks."""
    topology = Topology(prefix=f"dqcpu-{uuid.uuid4().hex[:8]}")
    with _schema() as schema, BrokerConnection(_RABBITMQ) as connection:
        backend = open_backend(_POSTGRES, schema=schema)
        try:
            connection.declare_topology(topology, ["default"])
            due = datetime.now(UTC) - timedelta(seconds=1)
            backend.store.add_jobs(list(burst_jobs("cpu", runs, due)))
            loop = _loop(backend, connection, topology)
            loop.tick()  # takes the lease; warms caches and the connection
            loop.drain()
            published = 0
            profiler = cProfile.Profile() if profile else None
            wall, cpu = time.perf_counter(), _cpu()
            if profiler is not None:
                profiler.enable()
            while True:
                result = loop.tick()
                if result.published == 0:
                    break
                published += result.published
            loop.drain()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)  # type: ignore[arg-type]  # checked above
            cpu, wall = _cpu() - cpu, time.perf_counter() - wall
            done = max(published, 1)
        finally:
            connection.delete_topology(topology, ["default"])
            backend.close()
    return cpu / done * 1e6, wall


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    for _ in range(args.repeat):
        per_run, wall = measure(args.runs, args.profile)
        load = os.getloadavg()[0]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{args.runs} runs: {per_run:.1f} µs CPU/run, wall {wall:.3f} s "
              f"(load {load:.1f}, rss {rss} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
