"""Which process holds the lease, and whether it provably no longer exists.

A lease names its holder's host and pid.  When a standby runs on the same host (same
hostname *and* same pid namespace, so the pid means the same process to both) and no
process has that pid, the holder died without releasing its lease (kill -9, a crash, a
power cut of the terminal): waiting for the expiry would only delay every run.  Anywhere
else the standby cannot tell a dead holder from a slow one, and waits.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

__all__ = ["ProcessIdentity"]


@dataclass(frozen=True, kw_only=True)
class ProcessIdentity:
    """A process as the lease row records it."""

    host: str
    pid: int

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process: its hostname and pid namespace, and its pid."""
        return cls(host=_host_key(), pid=os.getpid())

    def sees_dead(self, host: str | None, pid: int | None) -> bool:
        """True if the process ``host``/``pid`` is on this host and does not exist."""
        if host != self.host or pid is None or pid <= 0 or pid == self.pid:
            return False
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except OSError:  # PermissionError: it exists under another user
            return False
        return False


def _host_key() -> str:
    """Hostname plus the pid namespace: containers sharing a hostname never match."""
    hostname = socket.gethostname()
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""  # no /proc (macOS): the hostname alone
    return f"{hostname} {namespace}".strip()[:255]
