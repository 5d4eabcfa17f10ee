"""Celery references: beat keeping 1,000 one-second entries, and worker no-op throughput.

Both run Celery as a separate process (``celery -A tests.bench.celery_app ...``) against the
bench broker, on a queue and exchange of their own that are deleted afterwards, and are
measured from outside by the queue depth: beat by how fast the queue grows, the worker by
how fast a pre-filled queue drains.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

import psutil

from tests.bench.procs import python_process, stop_process
from tests.bench.services import Services, amqp_connection, delete_broker_names, unique_name
from tests.bench.stats import rate

__all__ = ["beat_rate", "worker_rate"]

# Queue depth polling period while a worker drains the queue (bounds the timing error).
_POLL_S = 0.02
# Threads of the reference worker: the same as a dueq worker's default concurrency.
WORKER_THREADS = 8


def _env(
    services: Services,
    queue: str,
    entries: int = 0,
    *,
    guaranteed: bool = False,
    prefetch_multiplier: int = 4,
) -> dict[str, str]:
    return {
        "DQB_CELERY_BROKER": services.broker_url,
        "DQB_CELERY_QUEUE": queue,
        "DQB_BEAT_ENTRIES": str(entries),
        "DQB_CELERY_GUARANTEED": "1" if guaranteed else "0",
        "DQB_CELERY_PREFETCH_MULTIPLIER": str(prefetch_multiplier),
    }


def _declare(services: Services, queue: str) -> None:
    """The queue as Celery declares it (durable classic, direct exchange of the same name)."""
    with contextlib.closing(amqp_connection(services.broker_url)) as conn:
        channel = conn.channel()
        channel.exchange_declare(exchange=queue, type="direct", durable=True, auto_delete=False)
        channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        channel.queue_bind(queue=queue, exchange=queue, routing_key=queue)


def _celery(args: list[str], env: dict[str, str], services: Services) -> subprocess.Popen[bytes]:
    return python_process(["-m", "celery", "-A", "tests.bench.celery_app", *args], env, services)


def beat_rate(
    services: Services, *, entries: int, duration: float, warmup: float
) -> dict[str, Any]:
    """Tasks/s celery beat sends with ``entries`` entries due every second."""
    queue = unique_name("celery-beat")
    _declare(services, queue)
    beat = _celery(
        ["beat", "-S", "celery.beat:Scheduler", "-l", "WARNING"],
        _env(services, queue, entries),
        services,
    )
    try:
        with contextlib.closing(amqp_connection(services.broker_url)) as conn:
            channel = conn.channel()
            deadline = time.time() + 60
            while _depth(channel, queue) == 0 and time.time() < deadline:
                time.sleep(0.1)  # beat is starting: nothing to wait on but the queue
            time.sleep(warmup)
            proc = psutil.Process(beat.pid)
            cpu0, t0, n0 = _cpu(proc), time.time(), _depth(channel, queue)
            time.sleep(duration)
            cpu1, t1, n1 = _cpu(proc), time.time(), _depth(channel, queue)
    finally:
        stop_process(beat)
        delete_broker_names(services.broker_url, [queue], [queue])
    return {
        "entries": entries,
        "target_per_s": entries,
        "window_s": round(t1 - t0, 2),
        "sent_per_s": round(rate(n1 - n0, t1 - t0), 1),
        "beat_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
    }


def worker_rate(
    services: Services, *, tasks: int, guaranteed: bool = False, prefetch_multiplier: int = 4
) -> dict[str, Any]:
    """No-op tasks/s of one Celery worker (threads pool) draining a pre-filled queue.

    ``guaranteed`` configures it like a dueq worker: acks late (after the task ran) and
    task events on (``-E``, each outcome published, as dueq publishes its events).
    """
    queue = unique_name("celery-worker")
    _declare(services, queue)
    env = _env(services, queue, guaranteed=guaranteed, prefetch_multiplier=prefetch_multiplier)
    fill = python_process(["-m", "tests.bench.ref_celery", "--n", str(tasks)], env, services)
    if fill.wait(timeout=600) != 0:
        raise RuntimeError("filling the Celery queue failed")
    worker = _celery(
        ["worker", "-P", "threads", "-c", str(WORKER_THREADS), "-Q", queue, "-l", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat",
         *(["-E"] if guaranteed else [])],
        env,
        services,
    )  # fmt: skip
    try:
        with contextlib.closing(amqp_connection(services.broker_url)) as conn:
            proc = psutil.Process(worker.pid)
            cpu0 = _cpu(proc)
            drained = _time_drain(conn.channel(), queue, tasks)
            cpu = _cpu(proc) - cpu0
    finally:
        stop_process(worker)
        delete_broker_names(services.broker_url, [queue], [queue])
    return {
        "tasks": tasks,
        "threads": WORKER_THREADS,
        "guaranteed": guaranteed,
        "prefetch_multiplier": prefetch_multiplier,
        "cpu_ms_per_task": round(1000 * cpu / tasks, 3),
        **drained,
    }


def _time_drain(channel: Any, queue: str, tasks: int) -> dict[str, Any]:
    deadline = time.time() + 120 + tasks / 200
    start_count, started = tasks, 0.0
    while time.time() < deadline:
        count = _depth(channel, queue)
        now = time.perf_counter()
        if not started and count < tasks:
            start_count, started = count, now
        if started and count == 0:
            return {"tasks_per_s": round(rate(start_count, now - started), 1)}
        time.sleep(_POLL_S)
    raise TimeoutError(f"the Celery worker did not drain {tasks} tasks in time")


def _depth(channel: Any, queue: str) -> int:
    _name, count, _consumers = channel.queue_declare(queue=queue, passive=True)
    return int(count)


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _fill(count: int) -> None:
    """Send ``count`` no-op tasks (run in a subprocess: the app reads its queue from env)."""
    from tests.bench.celery_app import app

    with app.producer_or_acquire() as producer:
        for _ in range(count):
            app.send_task("dqb.noop", producer=producer)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="fill a Celery queue with no-op tasks")
    parser.add_argument("--n", type=int, required=True)
    _fill(parser.parse_args().n)
    json.dump({"sent": True}, sys.stdout)
    os._exit(0)  # celery leaves non-daemon threads behind; nothing else to flush
