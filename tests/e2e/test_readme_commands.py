"""Every command the README shows is run: here, by the embedded-mode test, by the compose
test or by CI, according to the marker in front of its block (see ``readme_blocks``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dueq.cli import main
from tests.e2e.readme_blocks import KINDS, REPO, commands_of, run_command, shell_blocks

pytestmark = pytest.mark.e2e

# What tests/integration/compose runs through the CLI (`docker compose exec ... dueq X`).
COMPOSE_TESTED = {("jobs", "add"), ("runs",), ("workers",)}


def test_every_shell_block_says_who_runs_it() -> None:
    blocks = shell_blocks()
    assert blocks, "the README has no sh blocks"
    assert {block.kind for block in blocks} == KINDS
    unmarked = [block.commands for block in blocks if block.kind not in KINDS]
    assert not unmarked, f"sh blocks without a readme-check marker: {unmarked}"


def test_the_marker_parser_sees_unmarked_blocks() -> None:
    text = "<!-- readme-check: run -->\n```sh\ndueq --help\n```\n\n```sh\nrm -rf /  # no\n```\n"
    kinds = [block.kind for block in shell_blocks(text)]
    assert kinds == ["run", None]


def test_the_cli_commands_of_the_readme_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in a fresh folder (SQLite file there) with the in-memory broker for wakeups."""
    monkeypatch.chdir(tmp_path)
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DUEQ_")}
    env["DUEQ_BROKER_URL"] = "memory://"
    commands = commands_of("run")
    assert len(commands) >= 10
    for command in commands:
        assert command[0] == "dueq", f"not a dueq command: {command}"
        result = CliRunner().invoke(main, list(command[1:]), env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"{' '.join(command)}: {result.stderr or result.output}"
    assert (tmp_path / "dueq.sqlite3").exists()
    assert (tmp_path / "docs" / "protocol" / "run_request.json").exists()


def test_the_run_command_is_dueq_up_with_the_demo_app() -> None:
    # tests/e2e/test_e2e_up.py runs exactly this command (it reads it from the README).
    assert run_command() == ("dueq", "up", "--app", "examples.demo")


def test_the_compose_commands_are_the_ones_the_compose_test_runs() -> None:
    for command in commands_of("compose"):
        if command[0] == "cp":
            assert (REPO / command[1]).is_file()
            continue
        assert command[:2] == ("docker", "compose"), command
        if "exec" in command:
            dueq = command[command.index("exec") + 2 :]
            assert dueq[0] == "dueq"
            assert tuple(dueq[1:3]) in COMPOSE_TESTED or (dueq[1],) in COMPOSE_TESTED, dueq


def test_the_make_targets_exist_and_make_run_is_the_run_command() -> None:
    makefile = (REPO / "Makefile").read_text()
    for command in commands_of("ci"):
        assert command[0] == "make"
        assert re.search(rf"^{command[1]}:", makefile, re.MULTILINE), command
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    assert " ".join(run_command()[1:]) in recipe.group(1), "make run must run the README's command"
