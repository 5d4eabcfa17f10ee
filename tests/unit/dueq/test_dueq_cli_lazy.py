"""``dueq`` loads a command's module only when the command runs, yet lists them all."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dueq.cli import COMMANDS, main
from dueq.producer.cli.jobs import JOB_COMMANDS
from dueq.shared.lazygroup import LazyCommand

# What a command's module drags in; `dueq --help` needs none of it.
HEAVY_MODULES = ("sqlalchemy", "alembic", "kombu", "pydantic", "dueq.producer", "dueq.worker")

# What a command that only reads the job store or the history never needs: the broker,
# migrations, PostgreSQL, the whole Scheduler API (and what it alone imports: backfill's
# planner, the retry store, the listeners), the memory stores and the event models.
NOT_FOR_READING = (
    "kombu", "amqp", "alembic", "sqlalchemy.dialects.postgresql", "dueq.producer.scheduler",
    "dueq.producer.apscompat", "dueq.producer.backend", "dueq.producer.backfill",
    "dueq.producer.planner", "dueq.producer.retrystore", "dueq.producer.listeners",
    "dueq.producer.wakeup", "dueq.producer.cli.backfill", "dueq.producer.cli.jobchange",
    "dueq.producer.store.memory", "dueq.producer.history.memory",
    "dueq.producer.leader.memory", "dueq.shared.protocol.codec",
)  # fmt: skip
# ... and what only `runs` and `workers` need: the history, and through it the events;
# nor the trigger classes no stored job uses (the fixture's job is an interval one), nor
# the factory building triggers from add_job's arguments.
NOT_FOR_LISTING_JOBS = (
    *NOT_FOR_READING, "dueq.producer.history.sql", "dueq.shared.protocol.events",
    "dueq.shared.triggers.cron", "dueq.shared.triggers.calendarinterval",
    "dueq.shared.triggers.combining", "dueq.shared.triggers.date",
    "dueq.shared.triggers.factory",
)  # fmt: skip

# Every lazily mounted command by its path: the top level and ``dueq jobs``.
LAZY: dict[tuple[str, ...], LazyCommand] = {
    **{(name,): lazy for name, lazy in COMMANDS.items()},
    **{("jobs", name): lazy for name, lazy in JOB_COMMANDS.items()},
}


@pytest.mark.parametrize("path", sorted(LAZY), ids=" ".join)
def test_the_listed_summary_is_the_commands_own_first_line(path: tuple[str, ...]) -> None:
    lazy = LAZY[path]
    assert lazy.load().get_short_help_str(limit=200) == lazy.summary


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


def _loaded_after(args: list[str], env: dict[str, str], watched: tuple[str, ...]) -> list[str]:
    """The ``watched`` modules (or their submodules) a fresh process loaded running ``args``."""
    probe = (
        "import sys; from dueq.cli import main\n"
        f"try: main({args!r})\n"
        "except SystemExit as exc: assert not exc.code, exc.code\n"
        f"watched = {watched!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(watched)"
        " and (m in watched or m.startswith(tuple(w + '.' for w in watched)))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return list(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """DUEQ_* for a migrated SQLite file holding one job, and the memory broker."""
    database = f"sqlite:///{tmp_path / 'dueq.sqlite3'}"
    env = {**os.environ, "DUEQ_DATABASE_URL": database, "DUEQ_BROKER_URL": "memory://"}
    add = ["jobs", "add", "--func", "myapp:tick", "--id", "tick", "--interval", "1m"]
    for args in (["db", "upgrade"], add):
        command = [sys.executable, "-m", "dueq", *args]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    return env


@pytest.mark.parametrize("args", [["jobs", "list"], ["jobs", "show", "tick"]], ids=" ".join)
def test_reading_jobs_on_sqlite_loads_only_the_job_store(
    args: list[str], sqlite_env: dict[str, str]
) -> None:
    assert _loaded_after(args, sqlite_env, NOT_FOR_LISTING_JOBS) == []


@pytest.mark.parametrize("args", [["runs"], ["workers"]], ids=" ".join)
def test_reading_history_on_sqlite_builds_no_scheduler(
    args: list[str], sqlite_env: dict[str, str]
) -> None:
    assert _loaded_after(args, sqlite_env, NOT_FOR_READING) == []
