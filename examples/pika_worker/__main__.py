"""Command line: ``python -m examples.pika_worker --url URL --prefix P --queue Q``.

SIGTERM or SIGINT stops taking messages, lets running jobs finish within
``--shutdown-timeout``, publishes ``worker_offline`` and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from examples.pika_worker.consumer import Worker, WorkerConfig
from examples.pika_worker.jobs import JOBS
from examples.pika_worker.protocol import DEFAULT_SCHEMA_DIR

__all__ = ["main"]


def parse_args(argv: list[str] | None = None) -> WorkerConfig:
    """Read the command line (the URL may also come from DUEQ_BROKER_URL)."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.pika_worker",
        description="A dueq consumer written with pika alone.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("DUEQ_BROKER_URL", "amqp://guest:guest@localhost:5672/%2F"),
        help="AMQP URL",
    )
    parser.add_argument("--prefix", default="dueq", help="name prefix of dueq's entities")
    parser.add_argument("--queue", default="default", help="the job queue to consume")
    parser.add_argument("--queue-type", default="quorum", choices=["quorum", "classic"])
    parser.add_argument("--concurrency", type=int, default=4, help="runs at once")
    parser.add_argument("--heartbeat-interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--schema-dir", type=Path, default=DEFAULT_SCHEMA_DIR)
    parser.add_argument(
        "--signing-key",
        default=os.environ.get("DUEQ_SIGNING_KEY"),
        help="shared HMAC key: verify runs, sign events (default: $DUEQ_SIGNING_KEY; off)",
    )
    ns = parser.parse_args(argv)
    if ns.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return WorkerConfig(
        url=ns.url,
        prefix=ns.prefix,
        queue=ns.queue,
        queue_type=ns.queue_type,
        concurrency=ns.concurrency,
        heartbeat_interval=ns.heartbeat_interval,
        shutdown_timeout=ns.shutdown_timeout,
        schema_dir=ns.schema_dir,
        signing_key=ns.signing_key.encode() if ns.signing_key else None,
    )


def main(argv: list[str] | None = None) -> int:
    """Run a worker until SIGTERM/SIGINT; the exit status is 0 after a clean stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika narrates every frame
    worker = Worker(parse_args(argv), JOBS)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("pika_worker").info("%s: stopping", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
