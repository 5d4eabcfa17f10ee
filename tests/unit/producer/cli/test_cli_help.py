"""Every command explains itself with an example, and usage errors keep exit code 2."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from dueq.cli import main


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


ALL_COMMANDS = list(command_paths(main))


def test_the_product_has_every_command_of_the_issue() -> None:
    expected = {
        ("up",), ("scheduler",), ("worker",), ("schema",), ("next",), ("db", "upgrade"),
        ("db", "current"), ("db", "history"), ("db", "downgrade"),
        ("runs",), ("workers",), ("health",), ("jobs", "list"), ("jobs", "show"),
        ("jobs", "add"), ("jobs", "modify"), ("jobs", "pause"), ("jobs", "resume"),
        ("jobs", "remove"), ("jobs", "run-now"),
    }  # fmt: skip
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_help_explains_the_command_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"dueq {path[0]}" in result.output


@pytest.mark.parametrize(
    "args", [["jobs", "frobnicate"], ["jobs", "add", "--bogus"], ["runs", "--limit", "x"]]
)
def test_usage_errors_in_nested_commands_exit_with_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
