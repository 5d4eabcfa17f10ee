"""Scenario 3, worker throughput: no-op runs/s of ``dueq worker --processes 1`` and ``2``,
each without a database and with PostgreSQL (``--database-url``: fleet-wide claims).

The run queue is filled with M RunRequests first (no scheduler involved); then the workers
start and drain it.  Each run is acknowledged only after its outcome (job_executed) is
confirmed on the events queue.  The rate is M over the span from the first job_started to
the last job_executed, read afterwards from the events queue.  References: one Celery
worker (threads pool, same concurrency) on the same broker, plain and configured for the
same guarantees (acks late, task events on; with Celery's default prefetch and with the one a
dueq worker takes with a database), and the consume+ack ceiling.  CPU per run is
the workers' CPU (supervisor and children) from the start of the drain to the last outcome.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import psutil

from dueq.producer.publisher import to_message
from dueq.shared.broker import BrokerConnection
from dueq.shared.protocol import RunRequest, make_run_id
from dueq.shared.topology import Topology
from dueq.worker.settings import DEFAULT_CLAIMING_PREFETCH_MULTIPLIER as CLAIMING
from tests.bench import references, services
from tests.bench.dueq_cluster import DueqCluster
from tests.bench.jobs import FUNC
from tests.bench.model import Better, Context, Row, ScenarioResult
from tests.bench.services import amqp_connection, queue_depth
from tests.bench.stats import rate

__all__ = ["run"]

# Runs per publish_many call while filling the queue.
_FILL_CHUNK = 2000
# Issue 18's targets for one worker process: without a database, with PostgreSQL (and
# against the same worker without it), and against Celery configured for the same
# guarantees (acks late, task events on).
TARGET_PLAIN = 3000.0
TARGET_FLEET = 2000.0
TARGET_FLEET_VS_PLAIN = 0.8
TARGET_VS_CELERY = 1.0


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
            if "started_at" in event:  # a job_started, or an outcome sent without one
                first_start = min(
                    first_start, datetime.fromisoformat(event["started_at"]).timestamp()
                )
            if event["event"] == "job_executed":
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


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by ``pids`` and their children (a supervisor's workers)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for each in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = each.cpu_times()
                    total += times.user + times.system
    return total


def dueq_workers(ctx: Context, processes: int, count: int, database: bool) -> dict[str, Any]:
    """Fill, start ``dueq worker --processes N`` (with the database or not), time the drain."""
    where = "PostgreSQL" if database else "no database"
    ctx.log(f"dueq: worker --processes {processes}, {where}, {count} no-op runs")
    kind = "postgresql" if database else "sqlite"
    with (
        services.database(kind, ctx.services, "worker") as url,
        DueqCluster(
            ctx.services, database_url=url, tag="worker", worker_database=database
        ) as cluster,
    ):
        topo = cluster.topology
        fill(ctx.services.broker_url, topo, count)
        cluster.start_workers(1, processes=processes)
        pids = cluster.worker_pids()
        cpu0 = _cpu_seconds(pids)
        drain = _drain_seconds(ctx.services.broker_url, topo.run_queue("default"), count)
        events = _read_events(ctx.services.broker_url, topo.events_queue, count,
                              timeout=60 + count / 200)  # fmt: skip
        cpu = _cpu_seconds(pids) - cpu0
    executed = events["events"].get("job_executed", 0)
    runs_per_s = rate(executed, events["span_s"])
    return {
        "processes": processes,
        "database": database,
        "runs": count,
        "executed": executed,
        "runs_per_s": round(runs_per_s, 1),
        "runs_per_s_per_process": round(runs_per_s / processes, 1),
        "drain_runs_per_s": round(rate(count, drain), 1),
        "cpu_ms_per_run": round(1000 * cpu / max(executed, 1), 3),
        **events,
    }


def _row(label: str, m: dict[str, Any], **kw: Any) -> Row:
    return Row(scenario=label, metric="no-op runs/s", unit="/s", better=Better.HIGHER,
               dueq=m["runs_per_s"],
               note=f"{m['cpu_ms_per_run']:.2f} ms CPU/run; "
                    f"{m['runs_per_s_per_process']:,.0f}/s per process", **kw)  # fmt: skip


def run(ctx: Context) -> ScenarioResult:
    """1 and 2 processes, each without and with the database; then Celery and the ceiling."""
    result = ScenarioResult(name="worker")
    count = ctx.size(20_000, 3_000)
    m = {(p, db): dueq_workers(ctx, p, count, db) for db in (False, True) for p in (1, 2)}
    result.raw |= {f"dueq-{p}{'-db' if db else ''}": v for (p, db), v in m.items()}
    ceiling = references.ceiling(ctx)["consume_ack_per_s"]
    plain, fleet = m[1, False], m[1, True]
    fleet_ok = fleet["runs_per_s"] >= max(TARGET_FLEET, TARGET_FLEET_VS_PLAIN * plain["runs_per_s"])
    result.rows += [
        _row("worker, 1 process, no database", plain, reference="consume+ack ceiling (quorum)",
             ref_value=ceiling, target=f">= {TARGET_PLAIN:,.0f}/s",
             ok=plain["runs_per_s"] >= TARGET_PLAIN),
        _row("worker, 1 process, PostgreSQL", fleet, reference="same worker, no database",
             ref_value=plain["runs_per_s"],
             target=f">= {TARGET_FLEET:,.0f}/s, >= {TARGET_FLEET_VS_PLAIN}x",
             ok=fleet_ok),
        _row("worker --processes 2, no database", m[2, False], reference="--processes 1",
             ref_value=plain["runs_per_s"]),
        _row("worker --processes 2, PostgreSQL", m[2, True], reference="--processes 1",
             ref_value=fleet["runs_per_s"]),
    ]  # fmt: skip
    if ctx.with_references:
        celery = references.celery_worker(ctx)
        late = references.celery_worker(ctx, guaranteed=True)
        same = references.celery_worker(ctx, guaranteed=True, prefetch_multiplier=CLAIMING)
        result.raw |= {
            "celery": celery,
            "celery-guaranteed": late,
            f"celery-guaranteed-prefetch-{CLAIMING}": same,
        }
        result.rows += [
            _row("worker, 1 process, no database", plain, reference="Celery worker (threads, 8)",
                 ref_value=celery["tasks_per_s"]),
            _row("worker, 1 process, PostgreSQL", fleet,
                 reference="Celery worker (threads, 8, acks late, events; its default prefetch x4)",
                 ref_value=late["tasks_per_s"]),
            _row("worker, 1 process, PostgreSQL", fleet,
                 reference=f"Celery worker (threads, 8, acks late, events, prefetch x{CLAIMING} "
                           "as dueq's with a database)",
                 ref_value=same["tasks_per_s"], target=f">= {TARGET_VS_CELERY}x",
                 ok=fleet["runs_per_s"] >= TARGET_VS_CELERY * same["tasks_per_s"]),
        ]  # fmt: skip
    return result
