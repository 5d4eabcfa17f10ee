"""The job the compose test schedules: it leaves one file per execution as evidence.

Workers import it with ``DUEQ_IMPORTS=["tests.integration.compose.compose_jobs"]``.  A file
per call (never an append to a shared file) keeps executions from three worker processes
apart without locking, and survives any process being killed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def record(directory: str, label: str) -> str:
    """Write ``<label>.<random>.run`` holding this worker's pid into ``directory``."""
    path = Path(directory) / f"{label}.{uuid.uuid4().hex}.run"
    path.write_text(str(os.getpid()))
    return label
