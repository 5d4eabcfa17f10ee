"""The scheduler service's command: ``dueq scheduler`` (``dueq db`` is in ``database``).

Options fall back to ``DUEQ_*`` environment variables, then to the defaults of
``SchedulerSettings``; only options given on the command line override them.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import click

from dueq.producer.cli.common import given
from dueq.producer.retries import Stopped, retry_until_stopped
from dueq.producer.scheduler import BlockingScheduler
from dueq.producer.settings import build_settings
from dueq.shared.collector import freeze_startup_heap

__all__ = ["scheduler_command"]

logger = logging.getLogger(__name__)


@click.command(name="scheduler")
@click.option("--broker-url", help="RabbitMQ URL (DUEQ_BROKER_URL), or memory://.")
@click.option("--database-url", help="SQLAlchemy URL of the job store (DUEQ_DATABASE_URL).")
@click.option("--prefix", help="Prefix of exchange and queue names (DUEQ_PREFIX).")
@click.option("--queue-type", type=click.Choice(["quorum", "classic"]), help="DUEQ_QUEUE_TYPE.")
@click.option("--scheduler-id", help="Name in the leader lease (default host-pid-random).")
@click.option("--lease-seconds", type=float, help="Leader lease duration (default 15).")
@click.option("--timezone", help="Default time zone of triggers (default: the local zone).")
@click.option("--batch-size", type=int, help="Due jobs per transaction (default 500).")
@click.option("--max-sleep-seconds", type=float, help="Longest sleep between plans.")
@click.option(
    "--lookahead-seconds", type=float, help="Publish runs this early; workers hold them (0.25)."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (DUEQ_METRICS_PORT; default off; "
    "DUEQ_METRICS_HOST, default 127.0.0.1).",
)
def scheduler_command(**options: Any) -> None:
    """Run the scheduler service until SIGTERM or SIGINT.

    Any number may run against one database: one holds the leader lease and publishes
    due runs, the others stand by and take over within the lease time.

    \b
    Example:
      DUEQ_DATABASE_URL=postgresql+psycopg://db/dueq dueq scheduler --broker-url amqp://mq//
    """
    scheduler = BlockingScheduler(build_settings(None, None, given(options)))
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s: shutting down", signal.Signals(signum).name)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The service rides out a database that is down at start-up, like any later outage,
    # but a signal during that wait still ends it.
    try:
        retry_until_stopped("database", logger, scheduler.open, stopping)
    except Stopped:
        return
    freeze_startup_heap()  # this process is the scheduler's alone
    scheduler.start()
