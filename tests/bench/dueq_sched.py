"""The dueq scheduler as the scenarios run it: the product's ``BackgroundScheduler`` in a
process of its own, with a hook noting when each batch is confirmed.

``python -m tests.bench.dueq_sched --database-url URL --broker-url URL --prefix P --out F``
prints ``{"ready": <time>}`` once this process leads, runs until SIGTERM, then writes what
it saw to ``F``: every confirmed batch as (time, runs), and its own RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from dueq.producer import BackgroundScheduler, SchedulerSettings
from dueq.shared.collector import freeze_startup_heap
from dueq.shared.protocol.runbytes import EncodedRun

__all__ = ["main"]

# How long to wait for the leader lease before giving up (a stale lease of a crashed run
# cannot exist here: every scenario uses a fresh database).
_LEAD_TIMEOUT_S = 60.0


class BatchLog:
    """``after_publish`` hook: each batch is confirmed by the broker when it is called."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def __call__(self, published: list[EncodedRun]) -> None:
        now = time.time()
        with self._lock:
            self.batches.append((now, len(published)))


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by thread name (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:  # ended meanwhile, or not Linux
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu[thread.name] = cpu.get(thread.name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--broker-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lookahead-seconds", type=float, default=None)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    options: dict[str, Any] = {
        "database_url": args.database_url,
        "broker_url": args.broker_url,
        "prefix": args.prefix,
    }
    if args.batch_size:
        options["batch_size"] = args.batch_size
    if args.lookahead_seconds is not None:
        options["lookahead_seconds"] = args.lookahead_seconds
    log = BatchLog()
    scheduler = BackgroundScheduler(SchedulerSettings(**options), after_publish=log)
    scheduler.start()
    freeze_startup_heap()  # as ``dueq scheduler`` does: this process is the scheduler's
    deadline = time.monotonic() + _LEAD_TIMEOUT_S
    while not scheduler.is_leader and time.monotonic() < deadline:
        time.sleep(0.01)  # the lease is taken by the loop thread; nothing to wait on
    print(json.dumps({"ready": time.time(), "leader": scheduler.is_leader}), flush=True)
    at_ready = thread_cpu()
    stop.wait()
    rss = psutil.Process().memory_info().rss
    threads = {name: round(cpu - at_ready.get(name, 0.0), 3) for name, cpu in thread_cpu().items()}
    scheduler.shutdown()
    args.out.write_text(
        json.dumps(
            {
                "batches": log.batches,
                "thread_cpu_s": threads,
                "rss_mb": round(rss / 2**20, 1),
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
