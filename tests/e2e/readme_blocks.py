"""The README's shell blocks and how each is checked.

Every fenced ``sh`` block in README.md follows a marker comment naming who runs it::

    <!-- readme-check: run -->      run here, command by command (test_readme_commands)
    <!-- readme-check: up -->       the run command, run by test_e2e_up
    <!-- readme-check: compose -->  the compose commands, run as local processes by
                                    tests/integration/compose
    <!-- readme-check: ci -->       make targets that CI runs
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
KINDS = frozenset({"run", "up", "compose", "ci"})

_BLOCK = re.compile(
    r"(?:<!-- readme-check: (?P<kind>[a-z]+) -->\n)?```sh\n(?P<body>.*?)```", re.DOTALL
)


@dataclass(frozen=True)
class ShellBlock:
    """One fenced ``sh`` block: its marker (None if missing) and its commands."""

    kind: str | None
    commands: tuple[tuple[str, ...], ...]


def shell_blocks(text: str | None = None) -> list[ShellBlock]:
    """Every ``sh`` block of the README, commands split as a shell would (comments dropped)."""
    text = README.read_text() if text is None else text
    blocks = []
    for match in _BLOCK.finditer(text):
        commands = tuple(
            tuple(shlex.split(line, comments=True))
            for line in match["body"].splitlines()
            if shlex.split(line, comments=True)
        )
        blocks.append(ShellBlock(kind=match["kind"], commands=commands))
    return blocks


def commands_of(kind: str) -> list[tuple[str, ...]]:
    """The commands of every block marked ``kind``."""
    return [command for block in shell_blocks() if block.kind == kind for command in block.commands]


def run_command() -> tuple[str, ...]:
    """The README's run command (the one ``make run`` runs)."""
    (command,) = commands_of("up")
    return command
