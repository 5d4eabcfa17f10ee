"""The allowlist: the only functions this consumer will ever run, by registered name.

A RunRequest names its function in ``func``. This consumer looks the name up here and
never imports or evaluates anything else, so ``os:system`` in a message is refused, not
run. The three ``conformance.*`` jobs are what the conformance kit (tests/conformance/)
drives every consumer with; add your own functions next to them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["JOBS", "ConformanceFailure", "echo", "fail", "sleep"]


class ConformanceFailure(Exception):
    """What ``conformance.fail`` raises, so a report can name a known exception type."""


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Return the arguments, so a caller can see they arrived intact."""
    return {"args": list(args), "kwargs": kwargs}


def fail(message: str = "conformance failure") -> None:
    """Raise with ``message``, to prove failures are reported with their traceback."""
    raise ConformanceFailure(message)


def sleep(seconds: float = 1.0) -> float:
    """Hold an instance slot for ``seconds``, to exercise max_instances."""
    time.sleep(seconds)
    return seconds


JOBS: dict[str, Callable[..., Any]] = {
    "conformance.echo": echo,
    "conformance.fail": fail,
    "conformance.sleep": sleep,
}
