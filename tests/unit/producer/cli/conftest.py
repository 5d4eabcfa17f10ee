"""Running ``dueq`` in-process against a SQLite file and the in-memory broker."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dueq.cli import main

Dueq = Callable[..., Result]


@pytest.fixture
def cli_env(sqlite_url: str, memory_broker_url: str) -> dict[str, str | None]:
    """DUEQ_* for the commands: this test's database, broker and names; nothing inherited."""
    inherited: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DUEQ_")}
    return {
        **inherited,
        "DUEQ_DATABASE_URL": sqlite_url,
        "DUEQ_BROKER_URL": memory_broker_url,
        "DUEQ_PREFIX": f"cli{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def dueq(cli_env: dict[str, str | None]) -> Dueq:
    """``dueq(*args)`` runs the command and returns click's result (stdout, stderr, code)."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=cli_env, catch_exceptions=False)

    return run


@pytest.fixture
def dueq_json(dueq: Dueq) -> Callable[..., Any]:
    """``dueq_json(*args)`` runs a command with --json that must succeed; returns the data."""

    def run(*args: str) -> Any:
        result = dueq(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    return run
