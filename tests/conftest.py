"""Service fixtures shared by every test directory.

Session-scoped fixtures find the real RabbitMQ and PostgreSQL (and *fail*, never skip, when
they are missing: a skipped integration test hides a broken environment).  Per-test
fixtures isolate each test: a unique broker prefix whose queues are deleted afterwards, and
a PostgreSQL schema of its own selected through the URL, so subprocesses inherit it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from kombu.connection import Connection

from dueq.shared.redact import redact_url
from dueq.shared.topology import Topology

BROKER_URL = os.environ.get("DUEQ_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get(
    "DUEQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Every test prefix starts with this stem, so leftovers are recognisable on the broker.
TEST_PREFIX_STEM = "dqt-"

# Prefixes this pytest session handed out. The end-of-session sweep deletes only queues
# under these, never those of another test session running against the same broker.
_SESSION_PREFIXES: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    """Run the suite in UTC whatever the machine's zone.

    Like APScheduler 3, dueq reads naive datetimes and zone-less triggers in the local zone
    (``TZ``), and the suite's expected values are written for UTC.  Tests about the local
    zone set ``TZ`` themselves; subprocesses inherit this one.
    """
    os.environ["TZ"] = "UTC"


def _require_port(url: str, what: str, default_port: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as exc:
        pytest.fail(
            f"{what} is not reachable at {redact_url(url)} ({exc}); run `make test`, which "
            "starts or installs it, or point the environment variable at a running one",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """URL of the real RabbitMQ; at session end, deletes queues left by crashed tests."""
    _require_port(BROKER_URL, "RabbitMQ", 5672)
    yield BROKER_URL
    _sweep_test_queues(BROKER_URL)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL test database."""
    _require_port(POSTGRES_URL, "PostgreSQL", 5432)
    return POSTGRES_URL


@pytest.fixture
def topology(rabbitmq_url: str) -> Iterator[Topology]:
    """A topology with a prefix unique to this test; its standard queues are deleted after."""
    topo = Topology(prefix=f"{TEST_PREFIX_STEM}{uuid.uuid4().hex[:10]}")
    _SESSION_PREFIXES.add(topo.prefix)
    yield topo
    names = [topo.events_queue, topo.dead_letter_queue, topo.run_queue("default")]
    _delete_queues(rabbitmq_url, names)


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test's own."""
    return f"sqlite:///{tmp_path / 'dueq.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs twice: on a SQLite file and on a PostgreSQL schema."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_schema_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def memory_broker_url() -> str:
    """A kombu in-memory transport URL with a virtual host of this test's own."""
    return f"memory://localhost/{uuid.uuid4().hex}"


def _delete_queues(url: str, names: list[str]) -> None:
    # kombu's Connection is untyped; this is test housekeeping, not product code.
    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        channel = conn.channel()
        for name in names:
            channel.queue_delete(queue=name)
        channel.close()


def _sweep_test_queues(url: str) -> None:
    """Delete queues left under this session's prefixes (one rabbitmqctl call)."""
    if not _SESSION_PREFIXES or shutil.which("rabbitmqctl") is None:
        return
    listing = subprocess.run(
        ["rabbitmqctl", "list_queues", "name", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    leftovers = [n for n in listing.stdout.split() if n.split(".", 1)[0] in _SESSION_PREFIXES]
    if leftovers:
        _delete_queues(url, leftovers)
