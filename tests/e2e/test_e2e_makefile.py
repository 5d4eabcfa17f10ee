"""``make run`` on a fresh clone: only the runtime install, no pyenv noise; ``make test``
still installs the dev toolchain.  Dry runs (``make -n``) in a copy without a .venv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml in an empty folder (no .venv yet)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def pyenv_shims(tmp_path: Path) -> dict[str, str]:
    """A PATH where python3.13 and python3.12 are pyenv shims of versions not installed."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3.13", "python3.12"):
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho "pyenv: {name}: command not found" >&2\nexit 127\n')
        shim.chmod(0o755)
    return {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}


def _dry_run(folder: Path, target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-n", target], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


def test_make_run_installs_only_what_dueq_up_needs_without_pyenv_noise(
    fresh_clone: Path, pyenv_shims: dict[str, str]
) -> None:
    done = _dry_run(fresh_clone, "run", pyenv_shims)
    assert done.returncode == 0, done.stderr
    assert "pyenv" not in done.stderr
    assert "pip install --quiet -e '.[dashboard]'\n" in done.stdout  # dueq up's dashboard
    assert "[dev]" not in done.stdout
    assert "dueq up --app examples.demo" in done.stdout


def test_make_test_still_installs_the_dev_toolchain(fresh_clone: Path) -> None:
    done = _dry_run(fresh_clone, "test", dict(os.environ))
    assert "pip install --quiet -e '.[dev]'" in done.stdout
