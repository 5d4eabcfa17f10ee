"""``dueq health``: one line and exit 0 when the role's service answers, else exit 1."""

from __future__ import annotations

from click.testing import Result

from tests.unit.producer.cli.conftest import Dueq


def assert_unhealthy(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.stdout
    line = result.stderr.strip()
    assert line.startswith("unhealthy: ")
    assert len(line.splitlines()) == 1
    for text in expected:
        assert text in line


def test_the_scheduler_role_is_healthy_once_the_schema_exists(dueq: Dueq) -> None:
    assert_unhealthy(dueq("health", "--role", "scheduler"), "dueq db upgrade")
    assert dueq("db", "upgrade").exit_code == 0
    result = dueq("health", "--role", "scheduler")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: database sqlite:///")
    assert "no leader at the moment" in result.stdout


def test_the_worker_role_checks_the_broker(dueq: Dueq) -> None:
    result = dueq("health", "--role", "worker")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: broker memory://")


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
