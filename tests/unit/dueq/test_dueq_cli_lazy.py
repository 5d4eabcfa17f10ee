"""``dueq`` loads a command's module only when the command runs, yet lists them all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dueq.cli import COMMANDS, main

# What a command's module drags in; `dueq --help` needs none of it.
HEAVY_MODULES = ("sqlalchemy", "alembic", "kombu", "pydantic", "dueq.producer", "dueq.worker")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_summary_is_the_commands_own_first_line(name: str) -> None:
    command = COMMANDS[name].load()
    assert command.get_short_help_str(limit=200) == COMMANDS[name].summary


def test_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name, lazy in COMMANDS.items():
        assert f"  {name}" in result.output
        assert lazy.summary[:40] in result.output


def test_help_imports_no_command_module() -> None:
    probe = (
        "import sys; from dueq.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r} "
        f"or m.startswith(('dueq.producer', 'dueq.worker'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert isinstance(main, click.Group)


def test_jobs_list_on_sqlite_loads_neither_kombu_nor_alembic(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'dueq.sqlite3'}"
    env = {**os.environ, "DUEQ_DATABASE_URL": database, "DUEQ_BROKER_URL": "memory://"}
    upgrade = [sys.executable, "-m", "dueq", "db", "upgrade"]
    subprocess.run(upgrade, env=env, check=True, capture_output=True, timeout=60)
    probe = (
        "import sys; from dueq.cli import main\n"
        "try: main(['jobs', 'list'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kombu', 'alembic', 'amqp')"
        " or m.startswith('sqlalchemy.dialects.postgresql')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
