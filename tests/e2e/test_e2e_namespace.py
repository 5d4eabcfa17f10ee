"""dueq's one import name: a user project's own ``worker.py``, ``producer.py`` and ``shared/``
never break dueq, and the built wheel installs nothing but ``dueq``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import REPO

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
DUEQ = BIN / "dueq"

# A job project the way users write them: the names dueq's wings have, on the path.
USER_FILES = {
    "worker.py": "WHO = 'the user worker'\n",
    "producer.py": "WHO = 'the user producer'\n",
    "shared/__init__.py": "WHO = 'the user shared'\n",
    "shared/triggers.py": "WHO = 'the user triggers'\n",
    "userapp.py": textwrap.dedent(
        """
        from dueq import BackgroundScheduler, CronTrigger, job

        @job("userapp.hello")
        def hello() -> str:
            return "hello"

        def setup(scheduler: BackgroundScheduler) -> None:
            scheduler.add_job(hello, CronTrigger(second="*"), id="hello", replace_existing=True)
        """
    ),
}


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    for name, text in USER_FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def _run(argv: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # workers need the user's code on the path
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_dueq_help_works_beside_a_users_own_worker_producer_and_shared(user_project: Path) -> None:
    for argv in ([str(DUEQ), "--help"], [str(DUEQ), "worker", "--help"]):
        done = _run(argv, user_project)
        assert done.returncode == 0, done.stderr
        assert "Usage:" in done.stdout


def test_the_public_api_and_the_users_modules_both_import(user_project: Path) -> None:
    code = textwrap.dedent(
        """
        from dueq import BackgroundScheduler, CronTrigger, job
        import producer, shared, shared.triggers, worker
        print(producer.WHO, shared.WHO, shared.triggers.WHO, worker.WHO, sep="|")
        print(BackgroundScheduler.__module__, CronTrigger.__module__, job.__module__, sep="|")
        """
    )
    done = _run([sys.executable, "-c", code], user_project)
    assert done.returncode == 0, done.stderr
    users, dueqs = done.stdout.splitlines()
    assert users == "the user producer|the user shared|the user triggers|the user worker"
    assert all(module.startswith("dueq.") for module in dueqs.split("|"))


def test_dueq_up_runs_a_users_app_beside_their_own_worker_module(user_project: Path) -> None:
    done = _run(
        [str(DUEQ), "up", "--app", "userapp:setup", "--app-dir", ".", "--duration", "3"],
        user_project,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello" in done.stdout


def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("dueq-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"dueq"}
    # The three wings travel inside it, with their data (migrations) and typing marker.
    for inside in ("dueq/producer/scheduler.py", "dueq/worker/worker.py",
                   "dueq/shared/migrations/env.py", "dueq/shared/py.typed"):  # fmt: skip
        assert inside in names
    assert not any("__pycache__" in name for name in names)

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    installed = {path.name for path in target.iterdir() if not path.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"dueq"}
