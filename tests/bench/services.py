"""Where the bench finds RabbitMQ and PostgreSQL, and how each scenario isolates itself.

Every scenario gets names of its own (prefix ``dqb-...``) and a fresh PostgreSQL schema or
SQLite file, and removes them afterwards, so a bench run can share the services with a test
run and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import uuid
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import amqp
import sqlalchemy as sa

from dueq.shared.redact import redact_url

__all__ = [
    "BENCH_STEM",
    "Services",
    "amqp_connection",
    "database",
    "delete_broker_names",
    "issued_names",
    "machine_info",
    "queue_depth",
    "sweep_broker",
    "unique_name",
]

# Every bench entity starts with this, so leftovers of a crashed run are easy to find
# (``rabbitmqctl list_queues | grep dqb-``) and never confused with test ones ("dqt-").
BENCH_STEM = "dqb-"


@dataclass(frozen=True, kw_only=True)
class Services:
    """The URLs of the services the bench measures against."""

    broker_url: str
    postgres_url: str
    workdir: Path

    @classmethod
    def from_env(cls, workdir: Path) -> Services:
        """Same variables as the test suite (``DUEQ_TEST_*``), ``DUEQ_BENCH_*`` first."""
        env = os.environ
        broker = env.get("DUEQ_BENCH_BROKER_URL") or env.get(
            "DUEQ_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"
        )
        postgres = env.get("DUEQ_BENCH_POSTGRES_URL") or env.get(
            "DUEQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(broker_url=broker, postgres_url=postgres, workdir=workdir)


# The names this process handed out: the end-of-run sweep deletes only what starts with one
# of them, so a bench running beside another (two engineers, one broker) never deletes the
# other's queues mid-scenario (it did: "404 NOT_FOUND - no queue 'dqb-burst-...'").
_ISSUED: set[str] = set()


def unique_name(tag: str) -> str:
    """``dqb-<tag>-<random>``: a prefix, queue or schema name of one scenario's own."""
    name = f"{BENCH_STEM}{tag}-{uuid.uuid4().hex[:8]}"
    _ISSUED.add(name)
    return name


def issued_names() -> frozenset[str]:
    """Every name ``unique_name`` gave out in this process."""
    return frozenset(_ISSUED)


def amqp_connection(url: str) -> amqp.Connection:
    """A connected py-amqp connection for ``url`` (bench plumbing, not product code)."""
    parts = urlsplit(url)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    conn = amqp.Connection(
        host=f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=vhost,
        connect_timeout=10,
    )
    conn.connect()
    return conn


def queue_depth(channel: Any, queue: str) -> int:
    """Messages ready in ``queue`` (not counting ones delivered and unacknowledged)."""
    _name, count, _consumers = channel.queue_declare(queue=queue, passive=True)
    return int(count)


def delete_broker_names(url: str, queues: Iterable[str], exchanges: Iterable[str] = ()) -> None:
    """Delete queues and exchanges (missing ones are fine); sweeps ``prefix*`` queues too."""
    with contextlib.closing(amqp_connection(url)) as conn:
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                channel = conn.channel()
                with contextlib.suppress(Exception):
                    if kind == "queue":
                        channel.queue_delete(queue=name)
                    else:
                        channel.exchange_delete(exchange=name)
                with contextlib.suppress(Exception):
                    channel.close()


def _listed(kind: str) -> list[str]:
    listing = subprocess.run(
        ["rabbitmqctl", f"list_{kind}", "name", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return listing.stdout.split()


def sweep_broker(url: str, prefixes: Collection[str]) -> None:
    """Delete every queue and exchange whose name starts with one of ``prefixes``
    (rabbitmqctl).

    Scenarios delete what they know they made; this catches the rest (exchanges declared
    by API clients, leftovers of an interrupted scenario).
    """
    if shutil.which("rabbitmqctl") is None or not prefixes:
        return
    stems = tuple(prefixes)
    queues = [n for n in _listed("queues") if n.startswith(stems)]
    exchanges = [n for n in _listed("exchanges") if n.startswith(stems)]
    if queues or exchanges:
        delete_broker_names(url, queues, exchanges)


@contextlib.contextmanager
def database(kind: str, services: Services, tag: str) -> Iterator[str]:
    """A fresh database URL of ``kind`` ("postgresql" or "sqlite"), removed afterwards."""
    if kind == "sqlite":
        path = services.workdir / f"{unique_name(tag)}.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = unique_name(tag).replace("-", "_")
    engine = sa.create_engine(services.postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield f"{services.postgres_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def machine_info(services: Services) -> dict[str, Any]:
    """What the numbers were measured on: CPU, memory, versions, load at the start."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _memory_mb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
        "broker_url": redact_url(services.broker_url),
        "postgres_url": redact_url(services.postgres_url),
    }
    with (
        contextlib.suppress(Exception),
        contextlib.closing(amqp_connection(services.broker_url)) as conn,
    ):
        info["rabbitmq"] = conn.server_properties.get("version")
    with contextlib.suppress(Exception):
        engine = sa.create_engine(services.postgres_url)
        with engine.connect() as conn:
            info["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar_one()
        engine.dispose()
    return info


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None
