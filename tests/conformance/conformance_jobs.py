"""The conformance jobs for dueq's own worker: ``dueq worker --import conformance_jobs``.

The same three functions as the example consumers' allowlists (examples/pika_worker/jobs.py,
examples/node_worker/jobs.js), registered by name so RunRequests say ``conformance.echo``
whichever consumer runs them. The conformance fixtures put this directory on PYTHONPATH.
"""

from __future__ import annotations

import time
from typing import Any

from dueq import job

__all__ = ["ConformanceFailure", "echo", "fail", "sleep"]


class ConformanceFailure(Exception):
    """What ``conformance.fail`` raises, so a report can name a known exception type."""


@job("conformance.echo")
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Return the arguments, so the kit can see they arrived intact."""
    return {"args": list(args), "kwargs": kwargs}


@job("conformance.fail")
def fail(message: str = "conformance failure") -> None:
    """Raise with ``message``, to prove failures are reported with their traceback."""
    raise ConformanceFailure(message)


@job("conformance.sleep")
def sleep(seconds: float = 1.0) -> float:
    """Hold an instance slot for ``seconds``, to exercise max_instances."""
    time.sleep(seconds)
    return seconds
