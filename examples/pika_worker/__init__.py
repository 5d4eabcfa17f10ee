"""A dueq job consumer written with pika alone, following only docs/protocol.md.

It shares no code with dueq: it reads the JSON Schemas in ``docs/protocol/`` and speaks
AMQP 0-9-1 directly, which is what a consumer in any language would do. Run it with::

    python -m examples.pika_worker --url amqp://guest:guest@localhost:5672/%2F \\
        --prefix dueq --queue default

The functions it may run are the ``JOBS`` mapping in ``examples/pika_worker/jobs.py``.
"""

from __future__ import annotations

from examples.pika_worker.consumer import Worker, WorkerConfig
from examples.pika_worker.jobs import JOBS

__all__ = ["JOBS", "Worker", "WorkerConfig"]
