"""Consumers under test as processes: how to start one, watch it, and stop or kill it.

A consumer is described by a ``ConsumerSpec``: an argv template with ``{url}``,
``{prefix}`` and ``{queue}`` placeholders and the environment it needs. Its output goes to
a file, quoted in failure messages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TypeVar

__all__ = ["REPO", "STOP_TIMEOUT", "ConsumerProcess", "ConsumerSpec"]

REPO = Path(__file__).resolve().parents[2]

# Seconds a consumer may take to stop after SIGTERM with nothing running.
STOP_TIMEOUT = 15.0

# Lines of a consumer's log quoted in a failure message.
_LOG_LINES = 30

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ConsumerSpec:
    """How to start one consumer: argv with ``{url}``/``{prefix}``/``{queue}`` placeholders."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    # Extra argv and environment making it send a heartbeat every half second.
    fast_heartbeat_argv: Sequence[str] = ()
    fast_heartbeat_env: Mapping[str, str] = field(default_factory=dict)

    def beating_fast(self) -> ConsumerSpec:
        """This spec with its fast-heartbeat argv and environment added."""
        return replace(
            self,
            argv=[*self.argv, *self.fast_heartbeat_argv],
            env={**self.env, **self.fast_heartbeat_env},
        )

    def command(self, *, url: str, prefix: str, queue: str) -> list[str]:
        return [part.format(url=url, prefix=prefix, queue=queue) for part in self.argv]


class ConsumerProcess:
    """One running consumer, its output captured to a file for failure messages."""

    def __init__(self, spec: ConsumerSpec, command: list[str], log_path: Path) -> None:
        self.spec = spec
        self.command = command
        self._log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.started = time.monotonic()

    def log_tail(self) -> str:
        lines = self._log_path.read_text(errors="replace").splitlines()[-_LOG_LINES:]
        return f"\n--- {self.spec.name} consumer output (last lines) ---\n" + "\n".join(lines)

    def checking(self, check: Callable[[], T | None]) -> Callable[[], T | None]:
        """``check`` made to fail at once, with the log, when it finds nothing and this
        consumer has exited: waiting out the deadline for a dead process only hides why."""

        def check_while_alive() -> T | None:
            result = check()
            if result is None:
                self.assert_alive()
            return result

        return check_while_alive

    def assert_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise AssertionError(
                f"the {self.spec.name} consumer exited with status {code}: "
                f"{' '.join(self.command)}{self.log_tail()}"
            )

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; a consumer that does not stop in time is killed and fails."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the {self.spec.name} consumer ignored SIGTERM for {timeout} s{self.log_tail()}"
            ) from None
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: the consumer dies mid-whatever, as in a crash."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self._log.close()
