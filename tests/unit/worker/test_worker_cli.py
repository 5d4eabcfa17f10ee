"""``dueq worker``: options, their DUEQ_* fallbacks, and the help text."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dueq.worker import cli
from dueq.worker.settings import WorkerSettings
from dueq.worker.supervisor import child_settings


class StubWorker:
    """Records the settings instead of consuming."""

    seen: list[WorkerSettings] = []
    owned: list[bool] = []

    def __init__(self, settings: WorkerSettings, *, owns_process: bool = False) -> None:
        self.seen.append(settings)
        self.owned.append(owns_process)

    def run(self) -> None:
        return None

    def request_stop(self) -> None:
        return None


@pytest.fixture
def stub_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StubWorker]]:
    StubWorker.seen, StubWorker.owned = [], []
    monkeypatch.setattr(cli, "Worker", StubWorker)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield StubWorker
    for sig, handler in handlers.items():  # the command installs its own; put pytest's back
        signal.signal(sig, handler)


def invoke(*args: str, env: dict[str, Any] | None = None) -> Any:
    return CliRunner().invoke(cli.worker_command, list(args), env=env, catch_exceptions=False)


def test_help_explains_the_command_with_an_example() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "dueq worker --import myapp.jobs" in result.output
    for option in (
        "--queue",
        "--concurrency",
        "--executor",
        "--import",
        "--broker-url",
        "--database-url",
        "--worker-id",
        "--shutdown-timeout",
        "--prefix",
        "--prefetch-multiplier",
        "--processes",
    ):
        assert option in result.output


def test_options_become_settings(stub_worker: type[StubWorker]) -> None:
    result = invoke(
        "-Q",
        "a",
        "-Q",
        "b",
        "--concurrency",
        "3",
        "--executor",
        "process",
        "-i",
        "myapp.jobs",
        "--broker-url",
        "memory://",
        "--database-url",
        "sqlite:///x.db",
        "--worker-id",
        "w1",
        "--shutdown-timeout",
        "7",
        "--prefix",
        "pfx",
        "--prefetch-multiplier",
        "3",
    )
    assert result.exit_code == 0, result.output
    (settings,) = stub_worker.seen
    assert settings.queues == ("a", "b")
    assert (settings.concurrency, settings.executor.value) == (3, "process")
    assert settings.imports == ("myapp.jobs",)
    assert settings.database_url is not None
    assert settings.database_url.reveal() == "sqlite:///x.db"
    assert (settings.worker_id, settings.prefix) == ("w1", "pfx")
    assert settings.shutdown_timeout.total_seconds() == 7
    assert settings.prefetch_multiplier == 3


def test_options_not_given_fall_back_to_the_environment(stub_worker: type[StubWorker]) -> None:
    result = invoke(
        "--import", "myapp.jobs", env={"DUEQ_CONCURRENCY": "5", "DUEQ_PREFIX": "fromenv"}
    )
    assert result.exit_code == 0, result.output
    (settings,) = stub_worker.seen
    assert (settings.concurrency, settings.prefix) == (5, "fromenv")


def test_app_dir_goes_first_on_the_import_path(
    stub_worker: type[StubWorker], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert invoke("--app-dir", str(tmp_path)).exit_code == 0
    assert sys.path[0] == str(tmp_path.resolve())


def test_app_dir_defaults_to_the_current_folder(
    stub_worker: type[StubWorker], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    assert invoke().exit_code == 0
    assert sys.path[0] == str(tmp_path.resolve())


class StubSupervisor(StubWorker):
    """Records the settings and the process count instead of starting children."""

    processes: list[int] = []

    def __init__(self, settings: WorkerSettings, processes: int) -> None:
        super().__init__(settings)
        self.processes.append(processes)


def test_processes_runs_a_supervisor_and_one_process_runs_the_worker_itself(
    stub_worker: type[StubWorker], monkeypatch: pytest.MonkeyPatch
) -> None:
    StubSupervisor.processes = []
    monkeypatch.setattr(cli, "Supervisor", StubSupervisor)
    assert invoke("-i", "myapp.jobs", "--worker-id", "w").exit_code == 0
    assert invoke("-i", "myapp.jobs", env={"DUEQ_PROCESSES": "3"}).exit_code == 0
    assert StubSupervisor.processes == [3]
    assert [s.processes for s in stub_worker.seen] == [1, 3]
    assert stub_worker.owned[0] is True  # the command's worker has the process to itself


def test_each_child_is_the_same_worker_under_its_own_numbered_id() -> None:
    settings = WorkerSettings(worker_id="box", imports=("myapp.jobs",), concurrency=4)
    children = [child_settings(settings, n) for n in (1, 2)]
    assert [c.worker_id for c in children] == ["box-1", "box-2"]
    assert all(c.model_dump(exclude={"worker_id"}) == settings.model_dump(exclude={"worker_id"})
               for c in children)  # fmt: skip
