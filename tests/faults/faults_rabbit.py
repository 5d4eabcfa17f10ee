"""Private RabbitMQ nodes a test may crash: one node, or a three-node cluster.

Each node has its own name, listener port, distribution port, config file, mnesia and log
directories under a temporary directory, and an Erlang cookie in a HOME of its own: the
broker the rest of the suite uses is never touched.  The nodes run as the current user
straight from RabbitMQ's own scripts (``/usr/lib/rabbitmq/bin``), each in a process group
of its own, so ``kill()`` is a real ``kill -9`` of the Erlang VM and ``stop()`` leaves
nothing behind.  Starting one takes about 6 s on a 2-core host, so the fixtures start
them once per session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dueq.shared.broker import BrokerConnection
from dueq.shared.errors import BrokerUnavailable
from tests.faults.faults_rig import closed_port
from tests.support.waiting import wait_until

__all__ = ["RabbitCluster", "RabbitNode", "rabbit_scripts"]

# Debian's /usr/sbin wrappers switch to the rabbitmq user (and its HOME, so its cookie);
# the scripts behind them run as whoever calls them.
_SCRIPT_DIRS = ("/usr/lib/rabbitmq/bin", "/usr/local/lib/rabbitmq/bin", "/opt/rabbitmq/sbin")
# Every private node shares this cookie (in its own HOME), so they can cluster and be
# driven by rabbitmqctl; any fixed text will do.
_COOKIE = "DUEQFAULTSPRIVATECOOKIE"
# A node must answer AMQP within this (about 6 s on a quiet 2-core host; 4x for load).
_START_TIMEOUT_S = 60.0
_CTL_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0


def rabbit_scripts() -> Path:
    """The directory of rabbitmq-server and rabbitmqctl (fails, never skips, if absent)."""
    for directory in _SCRIPT_DIRS:
        if Path(directory, "rabbitmq-server").exists():
            return Path(directory)
    found = shutil.which("rabbitmq-server")
    if found:
        return Path(found).parent
    raise AssertionError("rabbitmq-server is not installed; `make test` installs it")


class RabbitNode:
    """One private RabbitMQ node: start, kill -9, restart, rabbitmqctl, stop."""

    def __init__(self, directory: Path, short_name: str) -> None:
        self.directory = directory
        self.node = f"{short_name}@localhost"
        self.port = closed_port()
        self.dist_port = closed_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self._scripts = rabbit_scripts()
        self._popen: subprocess.Popen[bytes] | None = None
        self._prepare()

    def _prepare(self) -> None:
        home = self.directory / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(_COOKIE)
        cookie.chmod(0o400)
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")

    def env(self) -> dict[str, str]:
        """The environment that makes RabbitMQ's scripts address this node."""
        d = self.directory
        return {
            **os.environ,
            "HOME": str(d / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
        }

    @property
    def alive(self) -> bool:
        """True while the node's process runs."""
        return self._popen is not None and self._popen.poll() is None

    def spawn(self) -> None:
        """Start the node (returns at once; see ``wait_ready``)."""
        assert not self.alive, f"{self.node} is running already"
        with (self.directory / "server.log").open("ab") as out:
            self._popen = subprocess.Popen(
                [str(self._scripts / "rabbitmq-server")],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the VM too
            )

    def wait_ready(self, timeout: float = _START_TIMEOUT_S) -> float:
        """Wait until the node accepts AMQP connections; returns the time (time.time())."""
        wait_until(self._answers, f"{self.node} to accept connections", timeout=timeout)
        return time.time()

    def start(self) -> float:
        """Start and wait until ready; returns when it was ready (time.time())."""
        self.spawn()
        return self.wait_ready()

    def _answers(self) -> bool:
        if not self.alive:
            raise AssertionError(f"{self.node} exited:\n{self.log_tail()}")
        try:
            with BrokerConnection(self.url, connect_timeout=2, heartbeat=0):
                return True
        except BrokerUnavailable:
            return False

    def kill(self) -> float:
        """kill -9 of the node's Erlang VM (and its helpers); returns the time of the kill."""
        assert self._popen is not None
        killed_at = time.time()
        _kill_group(self._popen)
        return killed_at

    def ctl(self, *args: str) -> str:
        """Run ``rabbitmqctl -n <node> args``; its output (fails the test on an error)."""
        done = subprocess.run(
            [str(self._scripts / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=_CTL_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def stop(self) -> None:
        """Kill the node if it runs (the session is over)."""
        if self._popen is not None:
            _kill_group(self._popen)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the node's console output."""
        path = self.directory / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class RabbitCluster:
    """Three private nodes joined into one cluster."""

    def __init__(self, directory: Path, stem: str, size: int = 3) -> None:
        self.nodes = [RabbitNode(directory / f"n{i}", f"{stem}-n{i}") for i in range(1, size + 1)]

    @property
    def url(self) -> str:
        """The failover URL naming every node (``amqp://n1;amqp://n2;amqp://n3``)."""
        return ";".join(node.url for node in self.nodes)

    def start(self) -> None:
        """Start every node at once, then join the others to the first, one at a time.

        Two nodes joining at once race on the cluster's Mnesia schema: a CI run saw the
        second one's ``start_app`` fail with ``{:mnesia_app, :start, ...}``.
        """
        for node in self.nodes:
            node.spawn()
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda n: n.wait_ready(), self.nodes))
        for node in self.nodes[1:]:
            self._join(node)

    def _join(self, node: RabbitNode) -> None:
        node.ctl("stop_app")
        node.ctl("join_cluster", self.nodes[0].node)
        node.ctl("start_app")
        node.wait_ready()

    def node_of(self, port: int) -> RabbitNode:
        """The node listening on ``port``."""
        return next(n for n in self.nodes if n.port == port)

    def stop(self) -> None:
        """Kill every node."""
        for node in self.nodes:
            node.stop()


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait(_STOP_TIMEOUT_S)


def nodes_named(nodes: Sequence[RabbitNode], names: Sequence[str]) -> list[RabbitNode]:
    """The nodes whose Erlang names are in ``names``, in that order."""
    by_name = {n.node: n for n in nodes}
    return [by_name[name] for name in names if name in by_name]
