"""compose's least-privilege accounts, made real on the local RabbitMQ and PostgreSQL.

The RabbitMQ permission regexes are read from the rabbitmq service of
compose/docker-compose.yml (the ones compose/rabbitmq/init-users.sh applies) and applied
with rabbitmqctl to two users of unique names.  The PostgreSQL roles get the grants of
compose/postgres/10-dueq-roles.sh on the test's own schema: the migration role may create
tables there, the scheduler and worker roles may only read and write their rows.
Everything is removed afterwards.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from tests.integration.compose.compose_support import load_compose, service_environment

__all__ = ["broker_accounts", "database_accounts", "permissions"]

_ROLES = ("SCHEDULER", "WORKER")


def permissions(prefix: str) -> dict[str, tuple[str, str, str]]:
    """role -> (configure, write, read) regexes of the compose file, for ``prefix``."""
    rabbitmq = load_compose()["services"]["rabbitmq"]
    dummies = {
        "DUEQ_PREFIX": prefix,
        "RABBITMQ_ADMIN_PASSWORD": "-",
        "RABBITMQ_SCHEDULER_PASSWORD": "-",
        "RABBITMQ_WORKER_PASSWORD": "-",
    }
    env = service_environment(rabbitmq, dummies, {})
    return {
        role: (env[f"DUEQ_{role}_CONFIGURE"], env[f"DUEQ_{role}_WRITE"], env[f"DUEQ_{role}_READ"])
        for role in _ROLES
    }


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def broker_accounts(prefix: str) -> Iterator[dict[str, str]]:
    """Compose's scheduler and worker users on the local broker, as compose variables."""
    tag = uuid.uuid4().hex[:8]
    variables: dict[str, str] = {}
    made: list[str] = []
    try:
        for role, (configure, write, read) in permissions(prefix).items():
            name, password = f"dqc-{role.lower()}-{tag}", f"pw-{uuid.uuid4().hex}"
            _rabbitmqctl("add_user", name, password)
            made.append(name)
            _rabbitmqctl("set_permissions", "-p", "/", name, configure, write, read)
            variables[f"RABBITMQ_{role}_USER"] = name
            variables[f"RABBITMQ_{role}_PASSWORD"] = password
        yield variables
    finally:
        for name in made:
            _rabbitmqctl("delete_user", name)


@contextmanager
def database_accounts(postgres_url: str, schema_url: str) -> Iterator[dict[str, str]]:
    """A migration, a scheduler and a worker role (no superuser), as compose variables."""
    schema = parse_qs(urlsplit(schema_url).query)["options"][0].split("=", 1)[1]
    tag = uuid.uuid4().hex[:8]
    names = {role: f"dqc_{role.lower()}_{tag}" for role in ("MIGRATE", *_ROLES)}
    roles = list(names.values())
    migrate, users = names["MIGRATE"], f'"{names["SCHEDULER"]}", "{names["WORKER"]}"'
    # The grants of compose/postgres/10-dueq-roles.sh, on this test's schema. DDL takes no
    # bind parameters; names are hex and fixed text only.
    statements = [
        *(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' for name in roles),
        f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{migrate}"',
        f'GRANT USAGE ON SCHEMA "{schema}" TO {users}',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{migrate}" IN SCHEMA "{schema}" '
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {users}",
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{migrate}" IN SCHEMA "{schema}" '
        f"GRANT USAGE, SELECT ON SEQUENCES TO {users}",
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{migrate}" IN SCHEMA "{schema}" '
        f"GRANT EXECUTE ON FUNCTIONS TO {users}",
    ]  # fmt: skip
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
        variables = {f"POSTGRES_{role}_USER": name for role, name in names.items()}
        # Trust authentication ignores them; the test checks they never reach a log line.
        for role in names:
            variables[f"POSTGRES_{role}_PASSWORD"] = f"pw-{uuid.uuid4().hex}"
        yield variables
    finally:
        with engine.begin() as conn:
            for name in names.values():
                conn.execute(sa.text(f'DROP OWNED BY "{name}" CASCADE'))
                conn.execute(sa.text(f'DROP ROLE "{name}"'))
        engine.dispose()
