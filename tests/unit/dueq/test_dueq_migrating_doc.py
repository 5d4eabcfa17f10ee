"""Every code block of docs/migrating.md is run: Python blocks as they are, shell blocks
through the ``dueq`` command line's own parser (every option and value checked, nothing
started), so the page cannot drift from the code."""

from __future__ import annotations

import os
import re
import shlex
import uuid
from pathlib import Path

import click
import pytest

from dueq.cli import main

DOC = Path(__file__).resolve().parents[3] / "docs" / "migrating.md"
_FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.DOTALL | re.MULTILINE)


def _blocks(lang: str) -> list[str]:
    return [m["body"] for m in _FENCE.finditer(DOC.read_text()) if m["lang"] == lang]


def test_every_block_is_python_or_shell_so_every_block_is_run() -> None:
    languages = {m["lang"] for m in _FENCE.finditer(DOC.read_text())}
    assert languages == {"python", "sh"}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of its own, the in-memory broker, no other DUEQ_* settings."""
    for name in [n for n in os.environ if n.startswith("DUEQ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DUEQ_BROKER_URL", f"memory://localhost/{uuid.uuid4().hex}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()  # the --app-dir the page names
    return tmp_path


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_block_runs(index: int, scratch: Path) -> None:
    source = _blocks("python")[index]
    exec(compile(source, f"{DOC.name} python block {index}", "exec"), {"__name__": "doc"})


@pytest.mark.parametrize("command", [c for b in _blocks("sh") for c in b.splitlines() if c])
def test_shell_command_parses(command: str, scratch: Path) -> None:
    words = shlex.split(command, comments=True)
    assert words[0] == "dueq"
    group = click.Context(main, info_name="dueq")
    sub = main.get_command(group, words[1])
    assert sub is not None, f"no command {words[1]!r}"
    sub.make_context(words[1], words[2:], parent=group)  # raises on any bad option or value
