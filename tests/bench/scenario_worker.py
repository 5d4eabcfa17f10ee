"""Scenario 3, worker throughput: no-op runs/s of 1 and of 2 ``dueq worker`` processes.

The run queue is filled with M RunRequests first (no scheduler involved); then the workers
start and drain it.  Each run is acknowledged only after its outcome (job_executed) is
confirmed on the events queue.  The rate is M over the span from the first job_started to
the last job_executed, read afterwards from the events queue.  References: one Celery
worker (threads pool, same concurrency) on the same broker, and the consume+ack ceiling.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from dueq.producer.publisher import to_message
from dueq.shared.broker import BrokerConnection
from dueq.shared.protocol import RunRequest, make_run_id
from dueq.shared.topology import Topology
from tests.bench import references
from tests.bench.dueq_cluster import DueqCluster
from tests.bench.jobs import FUNC
from tests.bench.model import Better, Context, Row, ScenarioResult
from tests.bench.services import amqp_connection, queue_depth
from tests.bench.stats import rate

__all__ = ["run"]

# Runs per publish_many call while filling the queue.
_FILL_CHUNK = 2000
# The targets for one worker process.
TARGET_RUNS_PER_S = 4000.0
TARGET_VS_CELERY = 1.7
TARGET_VS_CONSUME_CEILING = 0.5


def fill(broker_url: str, topology: Topology, count: int) -> None:
    """Publish ``count`` no-op runs, each of its own job, due now."""
    now = datetime.now(UTC)
    with BrokerConnection(broker_url, name="dqb-fill") as conn:
        conn.declare_topology(topology, ["default"])
        publisher = conn.publisher()
        for begin in range(0, count, _FILL_CHUNK):
            runs = [
                RunRequest(run_id=make_run_id(f"w{i}", now), job_id=f"w{i}", job_name=f"w{i}",
                           func=FUNC, scheduled_at=now, published_at=now, epoch=1)
                for i in range(begin, min(count, begin + _FILL_CHUNK))
            ]  # fmt: skip
            publisher.publish_many([to_message(r, topology) for r in runs])


def _read_events(broker_url: str, queue: str, expected: int, timeout: float) -> dict[str, Any]:
    """Wait for ``expected`` run outcomes on the events queue; their time span and kinds."""
    kinds: dict[str, int] = {}
    first_start, last_end = float("inf"), 0.0
    deadline = time.monotonic() + timeout
    with contextlib.closing(amqp_connection(broker_url)) as conn:
        channel = conn.channel()
        while kinds.get("job_executed", 0) < expected and time.monotonic() < deadline:
            message = channel.basic_get(queue=queue, no_ack=True)
            if message is None:
                time.sleep(0.05)  # the workers are still reporting
                continue
            event = json.loads(message.body)
            kinds[event["event"]] = kinds.get(event["event"], 0) + 1
            if event["event"] == "job_started":
                first_start = min(
                    first_start, datetime.fromisoformat(event["started_at"]).timestamp()
                )
            elif event["event"] == "job_executed":
                last_end = max(last_end, datetime.fromisoformat(event["finished_at"]).timestamp())
    return {"events": kinds, "span_s": round(last_end - first_start, 3)}


def _drain_seconds(broker_url: str, queue: str, count: int) -> float:
    """Seconds from the first delivery until the run queue is empty (polled every 20 ms)."""
    deadline, started = time.monotonic() + 60 + count / 100, 0.0
    with contextlib.closing(amqp_connection(broker_url)) as conn:
        channel = conn.channel()
        while time.monotonic() < deadline:
            depth, now = queue_depth(channel, queue), time.perf_counter()
            if not started and depth < count:
                started = now
            if started and depth == 0:
                return now - started
            time.sleep(0.02)  # the workers are other processes: poll the broker
    raise TimeoutError(f"the workers did not drain {count} runs in time")


def dueq_workers(ctx: Context, processes: int, count: int) -> dict[str, Any]:
    """Fill, start ``processes`` workers, time the drain and the events."""
    ctx.log(f"dueq: {processes} worker process(es), {count} no-op runs")
    with DueqCluster(ctx.services, database_url="", tag="worker") as cluster:
        topo = cluster.topology
        fill(ctx.services.broker_url, topo, count)
        cluster.start_workers(processes)
        with cluster.sample() as sampler:
            drain = _drain_seconds(ctx.services.broker_url, topo.run_queue("default"), count)
            events = _read_events(ctx.services.broker_url, topo.events_queue, count,
                                  timeout=60 + count / 200)  # fmt: skip
    executed = events["events"].get("job_executed", 0)
    return {
        "processes": processes,
        "runs": count,
        "executed": executed,
        "runs_per_s": round(rate(executed, events["span_s"]), 1),
        "drain_runs_per_s": round(rate(count, drain), 1),
        "usage": sampler.result(),
        **events,
    }


def run(ctx: Context) -> ScenarioResult:
    """1 and 2 worker processes, then the Celery worker and the consume ceiling."""
    result = ScenarioResult(name="worker")
    count = ctx.size(20_000, 3_000)
    one, two = dueq_workers(ctx, 1, count), dueq_workers(ctx, 2, count)
    result.raw |= {"dueq-1": one, "dueq-2": two}
    ceiling = references.ceiling(ctx)["consume_ack_per_s"]
    result.rows += [
        Row(scenario="worker, 1 process", metric="no-op runs/s", unit="/s", better=Better.HIGHER,
            dueq=one["runs_per_s"], reference="consume+ack ceiling (quorum)", ref_value=ceiling,
            target=f">= {TARGET_RUNS_PER_S:,.0f}/s, >= {TARGET_VS_CONSUME_CEILING}x ceiling",
            ok=one["runs_per_s"] >= max(TARGET_RUNS_PER_S, TARGET_VS_CONSUME_CEILING * ceiling)),
        Row(scenario="worker, 2 processes", metric="no-op runs/s", unit="/s",
            better=Better.HIGHER, dueq=two["runs_per_s"], reference="consume+ack ceiling (quorum)",
            ref_value=ceiling),
    ]  # fmt: skip
    if ctx.with_references:
        celery = references.celery_worker(ctx)
        result.raw["celery"] = celery
        result.rows.append(Row(
            scenario="worker, 1 process", metric="no-op runs/s", unit="/s", better=Better.HIGHER,
            dueq=one["runs_per_s"], reference="Celery worker (threads, 8)",
            ref_value=celery["tasks_per_s"], target=f">= {TARGET_VS_CELERY}x",
            ok=one["runs_per_s"] >= TARGET_VS_CELERY * celery["tasks_per_s"],
        ))  # fmt: skip
    return result
