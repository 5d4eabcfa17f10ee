"""Running a few lines of Python in a process of their own, for effects that last a process's
life (a frozen heap, exit hooks) and must not touch the test process."""

from __future__ import annotations

import subprocess
import sys

__all__ = ["printed_by"]

# Generous: a probe imports dueq and exits within a second or two.
_TIMEOUT_S = 60


def printed_by(source: str) -> list[str]:
    """The words ``source`` printed when run by this interpreter; raises if it failed."""
    done = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        check=True,
        timeout=_TIMEOUT_S,
    )
    return done.stdout.split()
