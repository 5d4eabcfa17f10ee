"""``dueq health``: one line and exit 0 when the role's service answers, else exit 1."""

from __future__ import annotations

from click.testing import Result

from dueq.producer import BackgroundScheduler
from dueq.shared.broker import BrokerConnection
from dueq.shared.settings import DueqSettings
from tests.support.waiting import wait_until
from tests.unit.producer.cli.conftest import Dueq
from tests.unit.producer.cli.test_cli_jobs import running_scheduler

__all__ = ["running_scheduler"]  # the fixture


def assert_unhealthy(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.stdout
    line = result.stderr.strip()
    assert line.startswith("unhealthy: ")
    assert len(line.splitlines()) == 1
    for text in expected:
        assert text in line


def test_the_scheduler_role_needs_the_schema(dueq: Dueq) -> None:
    assert_unhealthy(dueq("health", "--role", "scheduler"), "dueq db upgrade")


def test_the_scheduler_role_is_unhealthy_while_no_scheduler_leads(dueq: Dueq) -> None:
    assert dueq("db", "upgrade").exit_code == 0
    assert_unhealthy(dueq("health", "--role", "scheduler"), "no scheduler holds the leader lease")


def test_the_scheduler_role_is_healthy_with_a_leader_and_names_this_ones_part(
    dueq: Dueq, running_scheduler: BackgroundScheduler
) -> None:
    wait_until(lambda: running_scheduler.is_leader, "the scheduler to lead", timeout=10)
    result = dueq("health", "--role", "scheduler", "--scheduler-id", "other")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: database sqlite:///")
    assert "broker reachable; leader " in result.stdout
    assert "other is standing by" in result.stdout


def test_the_worker_role_needs_the_workers_queues(dueq: Dueq) -> None:
    assert_unhealthy(dueq("health", "--role", "worker"), "runs.default does not exist")


def test_the_worker_role_is_healthy_once_a_worker_declared_its_queues(
    dueq: Dueq, cli_env: dict[str, str | None]
) -> None:
    settings = DueqSettings(broker_url=cli_env["DUEQ_BROKER_URL"], prefix=cli_env["DUEQ_PREFIX"])
    with BrokerConnection(settings.broker_url.reveal()) as connection:
        connection.declare_topology(settings.topology(), ("default",))
        result = dueq("health", "--role", "worker")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: broker memory://")


def test_the_worker_role_checks_its_database_when_it_has_one(
    dueq: Dueq, cli_env: dict[str, str | None]
) -> None:
    settings = DueqSettings(broker_url=cli_env["DUEQ_BROKER_URL"], prefix=cli_env["DUEQ_PREFIX"])
    url = "postgresql+psycopg://dueq@127.0.0.1:1/dueq"
    with BrokerConnection(settings.broker_url.reveal()) as connection:
        connection.declare_topology(settings.topology(), ("default",))
        result = dueq("health", "--role", "worker", "--database-url", url)
    assert_unhealthy(result, "127.0.0.1:1")


def test_an_unreachable_broker_is_named_without_its_password(dueq: Dueq) -> None:
    url = "amqp://dueq:hunter2-secret@127.0.0.1:1/%2F"
    result = dueq("health", "--role", "worker", "--broker-url", url)
    assert_unhealthy(result, "amqp://dueq:***@127.0.0.1:1/%2F")
    assert "hunter2-secret" not in result.stderr


def test_an_unreachable_database_is_named_without_its_password(dueq: Dueq) -> None:
    url = "postgresql+psycopg://dueq:hunter2-secret@127.0.0.1:1/dueq"
    result = dueq("health", "--role", "scheduler", "--database-url", url)
    assert_unhealthy(result, "postgresql+psycopg://dueq:***@127.0.0.1:1/dueq")
    assert "hunter2-secret" not in result.stderr


def test_the_role_is_required(dueq: Dueq) -> None:
    result = dueq("health")
    assert result.exit_code == 2
    assert "--role" in result.stderr
