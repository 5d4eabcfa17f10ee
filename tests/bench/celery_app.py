"""The Celery app of the Celery references, configured from ``DQB_CELERY_*`` variables.

Loaded by ``celery -A tests.bench.celery_app`` in a subprocess, so the names come from the
environment: each measurement uses a queue (and exchange) of its own on the bench broker.
"""

from __future__ import annotations

import os
from datetime import timedelta

from celery import Celery

__all__ = ["app", "noop"]

_QUEUE = os.environ.get("DQB_CELERY_QUEUE", "dqb-celery")
# Entries in the beat schedule, each sending the no-op task once a second.
_BEAT_ENTRIES = int(os.environ.get("DQB_BEAT_ENTRIES", "0"))
# "1": the worker configured for dueq's guarantees: a task is acked only after it ran
# (a killed worker loses nothing) and every task's outcome is published as an event.
_GUARANTEED = os.environ.get("DQB_CELERY_GUARANTEED") == "1"
# Tasks prefetched per worker thread (Celery's default 4; the worker reference is also run
# with a dueq worker's prefetch when it has a database, 16).
_PREFETCH_MULTIPLIER = int(os.environ.get("DQB_CELERY_PREFETCH_MULTIPLIER", "4"))

app = Celery("dqb", broker=os.environ.get("DQB_CELERY_BROKER", "amqp://guest:guest@127.0.0.1//"))
app.conf.update(
    task_default_queue=_QUEUE,
    task_default_exchange=_QUEUE,
    task_default_routing_key=_QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_acks_late=_GUARANTEED,
    worker_send_task_events=_GUARANTEED,
    worker_prefetch_multiplier=_PREFETCH_MULTIPLIER,
    beat_schedule={
        f"entry-{i}": {"task": "dqb.noop", "schedule": timedelta(seconds=1)}
        for i in range(_BEAT_ENTRIES)
    },
)


@app.task(name="dqb.noop")  # type: ignore[untyped-decorator]  # celery is untyped
def noop() -> None:
    """Do nothing (the reference worker throughput)."""
