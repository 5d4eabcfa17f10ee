"""A PostgreSQL database that does not exist is a typo: one line, exit 2, no retrying."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from dueq.cli import main

DUEQ = Path(sys.executable).parent / "dueq"


def _missing_database(postgres_url: str) -> str:
    return postgres_url.rsplit("/", 1)[0] + "/dueq_no_such_database"


def test_jobs_list_on_a_database_that_does_not_exist_exits_2(postgres_url: str) -> None:
    result = CliRunner().invoke(
        main, ["jobs", "list", "--database-url", _missing_database(postgres_url)]
    )
    assert result.exit_code == 2
    assert 'database "dueq_no_such_database" does not exist' in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_scheduler_does_not_retry_a_database_that_does_not_exist(
    postgres_url: str, rabbitmq_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
    done = subprocess.run(
        [str(DUEQ), "scheduler", "--database-url", _missing_database(postgres_url)],
        env={**env, "DUEQ_BROKER_URL": rabbitmq_url},
        capture_output=True,
        text=True,
        timeout=60,  # it used to retry for ever
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: database ")
    assert "Traceback" not in done.stderr


def test_the_schema_setting_reaches_the_cli(postgres_url: str) -> None:
    schema = f"dueq_cli_{uuid.uuid4().hex[:10]}"
    env = {"DUEQ_DATABASE_URL": postgres_url, "DUEQ_DATABASE_SCHEMA": schema}
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
        assert result.exit_code == 0, result.stderr
        assert f"(schema {schema})" in result.stdout
        current = CliRunner().invoke(main, ["db", "current"], env=env)
        assert "revision 0008" in current.stdout
    finally:
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
