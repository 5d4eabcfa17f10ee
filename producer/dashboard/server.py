"""Serving the dashboard: in the foreground (``dueq dashboard``) or in a thread (``dueq up``)."""

from __future__ import annotations

import os
import socket
import threading
import time

import uvicorn

from dueq.producer.dashboard.app import create_app
from dueq.producer.dashboard.auth import require_token
from dueq.producer.dashboard.views import Dashboard
from dueq.shared.errors import ConfigError

__all__ = ["DashboardServer"]

# How long start() waits for the socket to be bound before giving up.
_START_TIMEOUT_S = 30.0
_POLL_S = 0.02


class DashboardServer:
    """uvicorn serving the dashboard of ``dashboard`` on ``host:port`` (0: any free port).

    The socket is bound at construction, so a port in use is a ``ConfigError`` naming it,
    raised where the caller can say so in one line (uvicorn would log and exit with 3).
    Also a ``ConfigError``: binding beyond loopback without a token.
    """

    def __init__(
        self, dashboard: Dashboard, *, host: str, port: int, token: str | None = None
    ) -> None:
        self.host = host
        app = create_app(dashboard, token=require_token(host, token))
        self._socket = _bind(host, port)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port bound (0 asks for any free one; this is the one chosen)."""
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve in this thread until interrupted (SIGINT/SIGTERM stop uvicorn)."""
        self._server.run(sockets=[self._socket])

    def start(self) -> None:
        """Serve in a background thread; return once the socket is bound."""
        self._thread = threading.Thread(target=self.run, name="dueq-dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard could not start on {self.host}")
            time.sleep(_POLL_S)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_START_TIMEOUT_S)
            self._thread = None
        self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; ``ConfigError`` if it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(
            f"cannot serve the dashboard on {host}:{port}: {reason} (choose another --port)"
        ) from exc
