"""compose/docker-compose.yml, proven without Docker: its services as local processes.

Each dueq service's command runs as ``.venv/bin/dueq <command>`` with that service's
environment after interpolation (service hosts mapped to the real local RabbitMQ and
PostgreSQL, a fresh PostgreSQL schema and a unique broker prefix): the scheduler, the
standby and as many workers as the file's replicas.  Jobs are added through the CLI, as
``docker compose exec scheduler dueq jobs add ...`` would.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pika
import pytest
import sqlalchemy as sa

from dueq.shared.topology import Topology
from tests.integration.compose.compose_support import (
    InterpolationError,
    dueq_command,
    healthcheck_command,
    interpolate,
    load_compose,
    service_environment,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DUEQ = Path(sys.executable).parent / "dueq"
JOBS_MODULE = "tests.integration.compose.compose_jobs"
DUEQ_SERVICES = ("scheduler", "scheduler-standby", "worker")

# Generous bounds for a shared 2-core machine; every wait returns as soon as it is met.
START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 30.0
# Between polls of the database or the CLI (each CLI poll starts a process).
POLL_S = 0.1


# -- the file itself ---------------------------------------------------------------------


def test_the_compose_file_describes_a_complete_deployment() -> None:
    compose = load_compose()
    services = compose["services"]
    always = {name for name, service in services.items() if "profiles" not in service}
    assert always == {"rabbitmq", "postgres", "migrate", *DUEQ_SERVICES}
    assert set(services) - always == {"prometheus", "grafana", "dashboard"}  # profile observe
    assert "management" in services["rabbitmq"]["image"]
    for name, service in services.items():
        if name != "migrate":  # a one-shot job, not a service to watch
            assert service["healthcheck"]["test"], f"{name} has no health check"
    assert healthcheck_command(services["scheduler"]) == ["dueq", "health", "--role", "scheduler"]
    assert healthcheck_command(services["worker"]) == ["dueq", "health", "--role", "worker"]
    assert services["worker"]["deploy"]["replicas"] == "${DUEQ_WORKERS:-3}"
    assert dueq_command(services["scheduler"], {}) == ["scheduler"]
    assert dueq_command(services["scheduler-standby"], {}) == ["scheduler"]
    assert dueq_command(services["worker"], {}) == ["worker"]
    ids = {
        services[s]["environment"]["DUEQ_SCHEDULER_ID"] for s in ("scheduler", "scheduler-standby")
    }
    assert len(ids) == 2, "the two schedulers need distinct ids"
    for name in DUEQ_SERVICES:
        environment = services[name]["environment"]
        assert {"DUEQ_BROKER_URL", "DUEQ_DATABASE_URL", "DUEQ_PREFIX"} <= set(environment)
        for key, value in environment.items():
            assert key.startswith("DUEQ_"), f"{name}: {key} is not a dueq setting"
            if key != "DUEQ_SCHEDULER_ID":
                assert "${" in str(value), f"{name}: {key} cannot be set from compose/.env"
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


SECRETS = {
    name: "p"
    for name in (
        "DUEQ_SIGNING_KEY", "RABBITMQ_ADMIN_PASSWORD", "RABBITMQ_SCHEDULER_PASSWORD",
        "RABBITMQ_WORKER_PASSWORD", "POSTGRES_ADMIN_PASSWORD", "POSTGRES_MIGRATE_PASSWORD",
        "POSTGRES_SCHEDULER_PASSWORD", "POSTGRES_WORKER_PASSWORD",
    )
}  # fmt: skip


def test_passwords_must_be_given_and_defaults_fill_the_rest() -> None:
    worker = load_compose()["services"]["worker"]
    with pytest.raises(InterpolationError, match="DUEQ_SIGNING_KEY"):
        service_environment(worker, {}, {})
    env = service_environment(worker, SECRETS, {})
    assert env["DUEQ_BROKER_URL"] == "amqp://dueq-worker:p@rabbitmq:5672/%2F"
    assert env["DUEQ_DATABASE_URL"].startswith("postgresql+psycopg://dueq_worker:p@")
    assert json.loads(env["DUEQ_IMPORTS"]) == ["examples.demo"]
    assert json.loads(env["DUEQ_QUEUES"]) == ["default"]
    assert interpolate("$${X} ${Y-d} ${Z:-e}", {"Z": ""}) == "${X} d e"


def test_each_role_gets_its_own_accounts_and_the_ports_stay_on_loopback() -> None:
    services = load_compose()["services"]
    envs = {name: service_environment(services[name], SECRETS, {}) for name in services}
    broker_users = {urlsplit(envs[n]["DUEQ_BROKER_URL"]).username for n in DUEQ_SERVICES}
    assert broker_users == {"dueq-scheduler", "dueq-worker"}
    database_users = {urlsplit(envs[n]["DUEQ_DATABASE_URL"]).username for n in DUEQ_SERVICES}
    assert database_users == {"dueq_scheduler", "dueq_worker"}
    assert urlsplit(envs["migrate"]["DUEQ_DATABASE_URL"]).username == "dueq_migrate"
    assert envs["postgres"]["POSTGRES_USER"] not in database_users
    ports = [interpolate(str(p), {}) for p in services["rabbitmq"]["ports"]]
    assert ports == ["127.0.0.1:5672:5672", "127.0.0.1:15672:15672"]
    assert "ports" not in services["postgres"]
    dueq_stack = [name for name, service in services.items() if "profiles" not in service]
    assert all("change-me" not in str(value) for n in dueq_stack for value in envs[n].values())


# -- the deployment ----------------------------------------------------------------------


class Deployment:
    """The compose services as local processes, with their logs in ``logs``."""

    def __init__(self, variables: dict[str, str], hosts: dict[str, str], logs: Path) -> None:
        self.compose = load_compose()
        self.variables = variables
        self.hosts = hosts
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, service: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
        # The image sets PYTHONPATH=/app so job modules import; the repository plays /app.
        base["PYTHONPATH"] = str(REPO)
        spec = self.compose["services"][service]
        return {**base, **service_environment(spec, self.variables, self.hosts)}

    def start(self, service: str, name: str) -> subprocess.Popen[bytes]:
        command = dueq_command(self.compose["services"][service], self.variables)
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [str(DUEQ), *command], env=self.env(service), stdout=log, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def stop(self, name: str) -> int:
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        return process.wait(START_TIMEOUT_S)

    def cli(self, service: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``docker compose exec SERVICE dueq ARGS``: the CLI with the service's environment."""
        return subprocess.run(
            [str(DUEQ), *args],
            env=self.env(service),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def cli_ok(self, service: str, *args: str) -> str:
        result = self.cli(service, *args)
        assert result.returncode == 0, f"dueq {' '.join(args)} failed: {result.stderr}"
        return result.stdout

    def cli_json(self, service: str, *args: str) -> Any:
        return json.loads(self.cli_ok(service, *args, "--json"))

    def health(self, service: str) -> subprocess.CompletedProcess[str]:
        return self.cli(service, *healthcheck_command(self.compose["services"][service])[1:])

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(10)

    def all_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.glob("*.log"))


@pytest.fixture
def deployment(
    rabbitmq_url: str,
    pg_schema_url: str,
    topology: Topology,
    tmp_path: Path,
    broker_users: dict[str, str],
    database_roles: dict[str, str],
) -> Iterator[Deployment]:
    broker, database = urlsplit(rabbitmq_url), urlsplit(pg_schema_url)
    variables = {
        **broker_users,
        **database_roles,
        "DUEQ_SIGNING_KEY": f"key-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        # The fresh schema rides along in the database name: "test?options=-csearch_path=..."
        "POSTGRES_DB": f"{database.path.lstrip('/')}?{database.query}",
        "DUEQ_PREFIX": topology.prefix,
        "DUEQ_LEASE_SECONDS": "2",
        "DUEQ_HEARTBEAT_INTERVAL": "1",
        "DUEQ_SHUTDOWN_TIMEOUT": "5",
        "DUEQ_IMPORTS": json.dumps([JOBS_MODULE]),
    }
    hosts = {
        "rabbitmq:5672": broker.netloc.rpartition("@")[2],
        "postgres:5432": database.netloc.rpartition("@")[2],
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Deployment(variables, hosts, logs)
    yield running
    running.close()


def leader(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT holder, expires_at FROM dueq_leader")).one_or_none()
    if row is None or row.holder is None or row.expires_at.replace(tzinfo=UTC) < datetime.now(UTC):
        return None
    return str(row.holder)


def executed_runs(engine: sa.Engine, job_id: str, after: datetime | None = None) -> int:
    query = "SELECT count(*) FROM dueq_runs WHERE job_id = :job AND status = 'executed'"
    params: dict[str, Any] = {"job": job_id}
    if after is not None:
        query += " AND scheduled_at > :after"
        params["after"] = after.replace(tzinfo=None)
    with engine.connect() as conn:
        return int(conn.execute(sa.text(query), params).scalar_one())


def table_exists(engine: sa.Engine, name: str) -> bool:
    return sa.inspect(engine).has_table(name)


def test_scheduler_standby_and_workers_run_every_run_exactly_once_across_a_handover(
    deployment: Deployment, pg_schema_url: str, tmp_path: Path, topology: Topology
) -> None:
    engine = sa.create_engine(pg_schema_url)
    evidence = tmp_path / "runs"
    evidence.mkdir()
    try:
        _run_the_deployment(deployment, engine, evidence)
    finally:
        engine.dispose()
    _assert_least_privilege(deployment, topology)
    logs = deployment.all_logs()
    for name, value in deployment.variables.items():
        if name.endswith(("_PASSWORD", "_KEY")):
            assert value not in logs, f"{name} leaked into a log"


def _access_refused(url: str, action: Callable[[Any], None]) -> str:
    """The broker's refusal of ``action(channel)`` for the user of ``url``."""
    parts = urlsplit(url)
    params = pika.URLParameters(parts._replace(path="/%2F").geturl())
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            action(channel)
        return str(refused.value)
    finally:
        connection.close()


def _assert_least_privilege(deployment: Deployment, topology: Topology) -> None:
    """The users and roles compose gives each service can do their job and nothing more."""
    worker_url = deployment.env("worker")["DUEQ_BROKER_URL"]
    scheduler_url = deployment.env("scheduler")["DUEQ_BROKER_URL"]
    run_queue = topology.run_queue("default")

    def publish_run(channel: Any) -> None:
        channel.basic_publish(topology.runs_exchange, "default", b"{}")

    def consume_runs(channel: Any) -> None:
        channel.basic_consume(run_queue, lambda *_: None)

    def publish_event(channel: Any) -> None:
        channel.basic_publish("", topology.events_queue, b"{}")

    assert "ACCESS_REFUSED" in _access_refused(worker_url, publish_run)
    assert "ACCESS_REFUSED" in _access_refused(scheduler_url, consume_runs)
    assert "ACCESS_REFUSED" in _access_refused(scheduler_url, publish_event)
    for service in ("scheduler", "worker"):
        engine = sa.create_engine(deployment.env(service)["DUEQ_DATABASE_URL"])
        try:
            denied = pytest.raises(sa.exc.ProgrammingError, match="permission denied")
            with denied, engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE dueq_intruder (x int)"))
            with engine.begin() as conn:
                is_super = conn.execute(
                    sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                ).scalar_one()
            assert is_super is False
        finally:
            engine.dispose()


def _run_the_deployment(deployment: Deployment, engine: sa.Engine, evidence: Path) -> None:
    # The one-shot migration, as the only role allowed DDL.
    migrate = deployment.compose["services"]["migrate"]
    deployment.cli_ok("migrate", *dueq_command(migrate, deployment.variables))
    # The active scheduler first, so it holds the lease before the standby starts.
    deployment.start("scheduler", "scheduler-a")
    wait_until(lambda: table_exists(engine, "dueq_leader") and leader(engine) == "scheduler-a",
             "scheduler-a to lead", timeout=START_TIMEOUT_S, interval=POLL_S)  # fmt: skip
    deployment.start("scheduler-standby", "scheduler-b")
    replicas = int(interpolate(deployment.compose["services"]["worker"]["deploy"]["replicas"], {}))
    assert replicas == 3
    for index in range(replicas):
        deployment.start("worker", f"worker-{index}")

    # Health checks as compose runs them.
    healthy = deployment.health("scheduler")
    assert healthy.returncode == 0, healthy.stderr
    assert "scheduler-a is the leader" in healthy.stdout
    standby = deployment.health("scheduler-standby")
    assert standby.returncode == 0
    assert "scheduler-b is standing by" in standby.stdout
    assert deployment.health("worker").returncode == 0

    # Jobs through the CLI: a 1 s interval job and two one-shot jobs.
    func = f"{JOBS_MODULE}:record"
    deployment.cli_ok(
        "scheduler", "jobs", "add", "--func", func, "--id", "tick", "--interval", "1s",
        "--args", json.dumps([str(evidence), "tick"]), "--no-coalesce", "--max-instances", "10",
    )  # fmt: skip
    at = (datetime.now(UTC) + timedelta(seconds=3)).replace(tzinfo=None, microsecond=0)
    for label in ("once-a", "once-b"):
        deployment.cli_ok(
            "scheduler", "jobs", "add", "--func", func, "--id", label,
            "--at", at.isoformat(), "--args", json.dumps([str(evidence), label]),
        )  # fmt: skip
    wait_until(
        lambda: executed_runs(engine, "tick") >= 3,
        "3 executed tick runs",
        timeout=RUN_TIMEOUT_S,
        interval=POLL_S,
    )

    # Workers as the scheduler heard of them (heartbeats), through the CLI.
    workers = wait_until(
        lambda: _live_workers(deployment, replicas),
        f"{replicas} live workers",
        timeout=START_TIMEOUT_S,
        interval=POLL_S,
    )
    assert len({w["pid"] for w in workers}) == replicas

    # Stop the active scheduler: the standby takes over and runs keep coming.
    assert deployment.stop("scheduler-a") == 0
    handover = datetime.now(UTC)
    wait_until(
        lambda: leader(engine) == "scheduler-b",
        "scheduler-b to lead",
        timeout=START_TIMEOUT_S,
        interval=POLL_S,
    )
    wait_until(
        lambda: executed_runs(engine, "tick", after=handover) >= 3,
        "3 tick runs scheduled by the standby",
        timeout=RUN_TIMEOUT_S,
        interval=POLL_S,
    )
    assert "scheduler-b is the leader" in deployment.health("scheduler-standby").stdout

    # Stop the interval job and let every published run finish.
    deployment.cli_ok("scheduler-standby", "jobs", "remove", "tick")
    wait_until(
        lambda: _all_final(engine), "every run to finish", timeout=RUN_TIMEOUT_S, interval=POLL_S
    )
    runs = deployment.cli_json("scheduler-standby", "runs", "--limit", "1000")
    _assert_exactly_once(runs, evidence)
    table = deployment.cli_ok("scheduler-standby", "runs", "--job", "once-a")
    assert "once-a" in table
    assert "executed" in table

    for index in range(replicas):
        assert deployment.stop(f"worker-{index}") == 0
    assert deployment.stop("scheduler-b") == 0


def _live_workers(deployment: Deployment, replicas: int) -> list[dict[str, Any]] | None:
    listed: list[dict[str, Any]] = deployment.cli_json("scheduler", "workers")
    return listed if len(listed) == replicas else None


def _all_final(engine: sa.Engine) -> bool:
    """True once the three jobs have runs and every run has its outcome."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT job_id, status FROM dueq_runs")).all()
    return {"tick", "once-a", "once-b"} <= {r.job_id for r in rows} and all(
        r.status in ("executed", "error", "missed", "max_instances", "rejected") for r in rows
    )


def _assert_exactly_once(runs: list[dict[str, Any]], evidence: Path) -> None:
    executions = Counter(path.name.split(".")[0] for path in evidence.glob("*.run"))
    history = Counter(r["job_id"] for r in runs)
    assert len({r["run_id"] for r in runs}) == len(runs)
    # One file per execution: as many executions as distinct runs, for every job.
    assert executions == history, f"executions {executions} != runs in history {history}"
    assert history["once-a"] == history["once-b"] == 1
    # No fire time of the interval job was lost across the handover (no-coalesce).
    times = sorted(datetime.fromisoformat(r["scheduled_at"]) for r in runs if r["job_id"] == "tick")
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
    assert gaps == {1.0}, f"tick runs are not 1 s apart: {gaps}"
