"""What the dashboard's pages are given: redacted texts, and the command's refusals."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dueq.cli import main
from dueq.producer import BackgroundScheduler
from dueq.producer.dashboard.server import DashboardServer
from dueq.producer.dashboard.views import Dashboard
from dueq.producer.deadletters import DeadLetters
from dueq.shared.broker import REASON_HEADER, BrokerConnection, OutgoingMessage

SECRET = "pw-never-on-a-page"


@pytest.fixture
def dashboard(tmp_path: Path, memory_broker_url: str) -> Iterator[Dashboard]:
    scheduler = BackgroundScheduler(
        database_url=f"sqlite:///{tmp_path / 'd.sqlite3'}",
        broker_url=memory_broker_url,
        queue_type="classic",
    )
    yield Dashboard(scheduler, DeadLetters(memory_broker_url, scheduler.settings.topology()))
    scheduler.shutdown()


def test_a_url_password_in_job_arguments_is_shown_redacted(dashboard: Dashboard) -> None:
    dsn = f"postgresql://etl:{SECRET}@db.internal/warehouse"
    dashboard.scheduler.add_job("m:f", "interval", hours=1, id="etl", kwargs={"dsn": dsn})

    (row,), total = dashboard.jobs()

    assert SECRET not in row.args
    assert "etl:***@db.internal" in row.args
    assert len(row.next_times) == 3
    assert total == 1


def test_the_dashboard_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["dashboard", "--host", "0.0.0.0", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
        env={"DUEQ_DASHBOARD_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert "beyond loopback" in result.output


def test_a_hostile_dead_letter_body_is_shown_as_text_never_as_markup(
    dashboard: Dashboard, memory_broker_url: str
) -> None:
    topology = dashboard.scheduler.settings.topology()
    with BrokerConnection(memory_broker_url) as connection:
        connection.declare_topology(topology, ["default"])
        connection.publisher().publish(
            OutgoingMessage(
                body=b"<script>alert('owned')</script>",
                exchange=topology.dead_letter_exchange,
                routing_key="default",
                headers={REASON_HEADER: "<img src=x onerror=alert(1)>"},
            )
        )
        server = DashboardServer(dashboard, host="127.0.0.1", port=0)
        server.start()
        try:
            with urllib.request.urlopen(f"{server.url}/dead", timeout=10) as response:
                page = response.read().decode()
        finally:
            server.stop()
        connection.delete_topology(topology, ["default"])

    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
