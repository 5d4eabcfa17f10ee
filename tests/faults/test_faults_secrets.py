"""Guarantee: passwords in the broker and database URLs never show in logs or errors.

A RabbitMQ user and a PostgreSQL role with passwords are created for the test (the
passwords contain ``@`` and ``:``, so the URLs carry them percent-encoded).  Then:

- a scheduler and a worker run with those URLs through fault proxies, and both
  connections are cut and restored while runs are due (reconnect warnings);
- a worker and a scheduler are given a wrong broker password (access refused, retried);
- a scheduler and a worker are pointed at ports where nothing listens (retried);
- ``dueq db upgrade`` is pointed at an unreachable database (one error line, exit 1).

Nothing any of them prints may contain a password, raw or encoded.  Each output must show
the failure it was provoked into (with the password replaced by ``***``), so the check
cannot pass by silence.  PostgreSQL trusts loopback here, so a wrong database password
would not be refused: the unreachable database stands in for a refused login.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from tests.faults.faults_procs import DUEQ
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import (
    OPEN_WINDOW_S,
    Rig,
    closed_port,
    interval_jobs,
    soon,
    with_address,
)
from tests.support.waiting import wait_until

# The outage provoked in the healthy deployment: a timed fault.
CUT_S = 2.0
RETRY_LOG = r"temporary (broker|database) error \(attempt [2-9]"
# Open-ended jobs: runs are still due after the outage however long the set-up took.
JOBS, EVERY_S, LEAD_S = 1, 0.25, 4.0


@dataclass(frozen=True)
class Secret:
    """A password, and the text that must never appear anywhere."""

    password: str
    unique: str  # a part of the password that cannot occur by chance

    @property
    def encoded(self) -> str:
        return quote(self.password, safe="")


def _secret(kind: str) -> Secret:
    unique = uuid.uuid4().hex
    return Secret(f"{kind}@{unique}:pw", unique)


@pytest.fixture
def broker_user(rabbitmq_url: str) -> Iterator[tuple[str, Secret]]:
    """A RabbitMQ user with a password (rabbitmqctl), deleted afterwards."""
    name, secret = f"dqf-user-{uuid.uuid4().hex[:8]}", _secret("broker")
    _rabbitmqctl("add_user", name, secret.password)
    try:
        _rabbitmqctl("set_permissions", "-p", "/", name, ".*", ".*", ".*")
        yield name, secret
    finally:
        _rabbitmqctl("delete_user", name)


@pytest.fixture
def database_role(postgres_url: str, pg_schema_url: str) -> Iterator[tuple[str, Secret]]:
    """A PostgreSQL login role with a password, dropped afterwards."""
    name, secret = f"dqf_role_{uuid.uuid4().hex[:8]}", _secret("database")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            # A superuser, so it may use the test's schema and tables without grants; DDL
            # takes no bind parameters, and the password is hex digits and "@:" only.
            conn.execute(
                sa.text(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{secret.password}'")
            )
        yield name, secret
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {name}"))
            conn.execute(sa.text(f"DROP ROLE {name}"))
    finally:
        engine.dispose()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def _with_credentials(url: str, user: str, secret: Secret, port: int | None = None) -> str:
    return with_address(
        url, port=port or urlsplit(url).port or 0, userinfo=f"{user}:{secret.encoded}"
    )


def test_no_password_appears_in_any_log_line_or_error_message(
    rig: Rig,
    figures: Figures,
    broker_user: tuple[str, Secret],
    database_role: tuple[str, Secret],
) -> None:
    user, broker_secret = broker_user
    role, db_secret = database_role
    wrong = _secret("wrong")
    broker_url = _with_credentials(rig.broker_url, user, broker_secret)
    database_url = _with_credentials(rig.database_url, role, db_secret)
    dead_port = closed_port()
    wrong_broker = _with_credentials(rig.broker_url, user, wrong)
    no_broker = _with_credentials(rig.broker_url, user, broker_secret, dead_port)
    no_database = _with_credentials(rig.database_url, role, db_secret, dead_port)

    # Provoked failures, all started at once (each retries until killed).
    failing = [
        rig.worker("worker-wrong-password", broker_url=wrong_broker),
        rig.scheduler("scheduler-wrong-password", broker_url=wrong_broker),
        rig.worker("worker-no-broker", broker_url=no_broker),
        rig.scheduler("scheduler-no-database", database_url=no_database),
    ]
    upgrade = subprocess.run(
        [DUEQ, "db", "upgrade", "--database-url", no_database],
        capture_output=True, text=True, timeout=60, env=rig.procs.env,
    )  # fmt: skip

    # The healthy deployment, with passwords in its URLs, through proxies that fail.
    broker_proxy, proxied_broker = rig.proxy(broker_url, "broker")
    db_proxy, proxied_db = rig.proxy(database_url, "database")
    start = soon(LEAD_S)
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=start, window=OPEN_WINDOW_S))
    worker = rig.worker("worker", broker_url=proxied_broker, database_url=proxied_db)
    scheduler = rig.scheduler("scheduler", broker_url=proxied_broker, database_url=proxied_db)
    rig.wait_consuming(worker)
    wait_until(lambda: len(rig.ledger.executions()) >= 2, "runs to execute", timeout=30)
    broker_proxy.cut()
    db_proxy.cut()
    time.sleep(CUT_S)  # the outage
    broker_proxy.restore()
    db_proxy.restore()
    restored = time.time()
    wait_until(
        lambda: any(e.started_at > restored for e in rig.ledger.executions()),
        "runs to execute again after the outage",
        timeout=30,
    )
    for proc in failing:
        proc.wait_for_log(RETRY_LOG, timeout=30)
    for proc in failing:
        proc.kill()  # stopping during an outage is test_faults_shutdown's subject
    for proc in (worker, scheduler):
        proc.terminate()  # a graceful shutdown: its log lines are checked too

    outputs = {p.name: p.output() for p in (*failing, worker, scheduler)}
    outputs["db-upgrade"] = upgrade.stdout + upgrade.stderr
    secrets = (broker_secret, db_secret, wrong)
    leaks = {
        name: [s.password for s in secrets if s.unique in text or s.encoded in text]
        for name, text in outputs.items()
    }
    lines = sum(len(text.splitlines()) for text in outputs.values())
    print(
        f"{len(outputs)} outputs, {lines} lines checked for 3 passwords: "
        f"{sum(map(len, leaks.values()))} leaks"
    )
    figures["outputs_checked"] = len(outputs)
    figures["lines_checked"] = lines
    figures["leaks"] = sum(map(len, leaks.values()))
    assert not any(leaks.values()), f"passwords leaked: {leaks}"
    assert upgrade.returncode == 1, upgrade.stderr
    assert "error:" in upgrade.stderr, upgrade.stderr
    redacted = f"{role}:***@"
    assert redacted in upgrade.stderr, "the error should name the database, redacted"
    for proc in failing:
        assert "***@" in outputs[proc.name], f"{proc.name} never showed the URL it failed on"
    for name in ("worker-wrong-password", "scheduler-wrong-password"):
        assert "ACCESS_REFUSED" in outputs[name], f"{name} was not refused: the check is void"
    assert "lost" in outputs["worker"] or "temporary" in outputs["worker"]
    assert broker_proxy.refused + db_proxy.refused > 0


def _shapes(rig: Rig, user: str, secret: Secret, dead_port: int) -> dict[str, dict[str, str]]:
    """URL shapes that used to leak: (DUEQ_* overrides) per case name."""
    db = urlsplit(rig.database_url)
    db_base = f"{db.scheme}://postgres@127.0.0.1:{dead_port}{db.path}"
    raw = secret.password.replace(":pw", "/pw")  # a raw '/' (and '@') in the password
    broker = urlsplit(rig.broker_url)
    return {
        "database password in the query string": {
            "DUEQ_DATABASE_URL": f"{db_base}?password={secret.password}&connect_timeout=2",
        },
        "database password with a raw slash": {
            "DUEQ_DATABASE_URL": f"{db.scheme}://postgres:{raw}@127.0.0.1:{dead_port}{db.path}",
        },
        "database password in the query and a bad option (SQLAlchemy's own text)": {
            "DUEQ_DATABASE_URL": f"{db_base}?password={secret.password}&sslmode=bogus",
        },
        "broker password with a raw slash, refused (kombu's own text)": {
            "DUEQ_BROKER_URL": f"amqp://{user}:{raw}@{broker.hostname}:{broker.port}//",
        },
        "broker password in the query string": {
            "DUEQ_BROKER_URL": f"amqp://{user}@127.0.0.1:{dead_port}//?password={secret.password}",
        },
    }


def test_no_command_prints_a_password_whatever_the_urls_shape(
    rig: Rig, figures: Figures, broker_user: tuple[str, Secret]
) -> None:
    user, _ = broker_user
    secret = _secret("shape")
    dead_port = closed_port()
    commands = {  # one command per shape, all run at once (each is mostly start-up time)
        "DUEQ_DATABASE_URL": ["db", "upgrade"],
        "DUEQ_BROKER_URL": ["health", "--role", "worker"],
    }
    running: dict[str, subprocess.Popen[str]] = {}
    for case, overrides in _shapes(rig, user, secret, dead_port).items():
        [setting] = overrides
        env = {**rig.procs.env, "DUEQ_DATABASE_URL": rig.database_url, **overrides}
        args = commands[setting]
        running[f"{case}: dueq {' '.join(args)}"] = subprocess.Popen(
            [DUEQ, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
    outputs: dict[str, str] = {}
    for name, proc in running.items():
        outputs[name] = proc.communicate(timeout=60)[0]
        assert proc.returncode != 0, f"{name} did not fail: {outputs[name]}"
    leaks = [name for name, text in outputs.items() if secret.unique in text]
    figures["command_runs_checked"] = len(outputs)
    figures["leaks"] = len(leaks)
    print(f"{len(outputs)} failing command runs over 5 URL shapes: {len(leaks)} leaks")
    assert not leaks, {name: outputs[name][-500:] for name in leaks}
    refused = outputs[
        "broker password with a raw slash, refused (kombu's own text): dueq health --role worker"
    ]
    assert "***" in refused or "ACCESS_REFUSED" in refused, refused
