"""The allowlist: registered names and module:qualname under --import prefixes, nothing else."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from dueq import job
from dueq.shared.errors import ConfigError
from dueq.worker.registry import NotAllowed, Registry
from tests.jobs_for_tests import worker_jobs

JOBS = "tests.jobs_for_tests.worker_jobs"


class RecordingImporter:
    """Imports for real, but records every module name asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, name: str) -> types.ModuleType:
        import importlib

        self.asked.append(name)
        return importlib.import_module(name)


@pytest.fixture
def importer() -> RecordingImporter:
    return RecordingImporter()


@pytest.fixture
def registry(importer: RecordingImporter) -> Registry:
    loaded = Registry([JOBS], importer=importer)
    loaded.load()
    return loaded


def test_a_job_registered_with_the_decorator_is_found_by_name(registry: Registry) -> None:
    assert registry.resolve("worker-tests.noop") is worker_jobs.noop
    assert registry.names == ["worker-tests.noop"]


def test_a_module_qualname_under_an_import_prefix_is_resolved(registry: Registry) -> None:
    assert registry.resolve(f"{JOBS}:add") is worker_jobs.add
    assert registry.resolve(f"{JOBS}:async_add") is worker_jobs.async_add


def test_a_submodule_of_an_allowed_package_imported_at_start_up_is_allowed() -> None:
    registry = Registry(["tests.jobs_for_tests"])
    registry.load()  # this test module imported worker_jobs before: it is loaded
    assert registry.resolve(f"{JOBS}:add") is worker_jobs.add


@pytest.mark.parametrize(
    "ref",
    [
        "os:system",
        "builtins:eval",
        "subprocess:Popen",
        "tests.jobs_for_tests_evil:add",  # shares the prefix text, not the package
        "tests.jobs_for_tests:worker_jobs",  # the parent package is outside the prefix
        "../x",
        "x" * 10_000,
        "os:system; rm -rf /",
        "",
    ],
)
def test_hostile_references_are_refused_without_importing_anything(
    registry: Registry, importer: RecordingImporter, ref: str
) -> None:
    importer.asked.clear()
    with pytest.raises(NotAllowed) as caught:
        registry.resolve(ref)
    assert importer.asked == []
    assert "is not allowed" in caught.value.reason
    assert len(caught.value.reason) < 500  # a huge name is not echoed back whole


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        (f"{JOBS}:os.system", "only module-level functions"),
        (f"{JOBS}:json.dumps", "only module-level functions"),
        (f"{JOBS}:__builtins__", "private names"),
        (f"{JOBS}:add.__globals__", "only module-level functions"),
        (f"{JOBS}:JOB_MISSING", "no attribute"),
        (f"{JOBS}:_POLL_S", "private names"),
        (f"{JOBS}:job", "outside --import"),  # imported from shared.funcref
        (f"{JOBS}:Path", "not a plain function"),
        (f"{JOBS}:JobClass", "not a plain function"),
        (f"{JOBS}:SneakyPopen", "not a plain function"),
        (f"{JOBS}:JobClass.run", "only module-level functions"),
        (f"{JOBS}:_private_helper", "private names"),
        (f"{JOBS}:reexported", "outside --import"),
    ],
)
def test_paths_walking_out_of_an_allowed_module_are_refused(
    registry: Registry, ref: str, why: str
) -> None:
    with pytest.raises(NotAllowed, match=why):
        registry.resolve(ref)


def test_an_unknown_registered_name_is_refused(registry: Registry) -> None:
    with pytest.raises(NotAllowed, match="no job is registered"):
        registry.resolve("reports.daily")


def test_a_worker_without_imports_allows_nothing() -> None:
    with pytest.raises(NotAllowed, match=r"\(none given\)"):
        Registry().resolve(f"{JOBS}:add")


def test_an_import_module_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot import --import module"):
        Registry(["no.such.module"]).load()


def test_two_functions_under_one_name_are_a_config_error() -> None:
    registry = Registry()

    @job("same")
    def first() -> None: ...

    @job("same")
    def second() -> None: ...

    registry.register(first)
    with pytest.raises(ConfigError, match="two functions"):
        registry.register(second)


def test_a_module_not_found_is_named_with_the_folders_searched() -> None:
    registry = Registry(["no_such_app_module"])
    with pytest.raises(ConfigError) as caught:
        registry.load()
    message = str(caught.value)
    assert "cannot import --import module 'no_such_app_module'" in message
    assert f"searched {', '.join(entry or '.' for entry in sys.path)}" in message
    assert "--app-dir" in message


def test_a_missing_dependency_of_an_app_module_is_not_blamed_on_the_path() -> None:
    def importer(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'pandas'", name="pandas")

    with pytest.raises(ConfigError) as caught:
        Registry(["myapp"], importer=importer).load()
    assert "pandas" in str(caught.value)
    assert "searched" not in str(caught.value)


def test_resolving_never_imports_a_module_not_imported_at_start_up(
    importer: RecordingImporter,
) -> None:
    registry = Registry(["tests.jobs_for_tests"], importer=importer)
    registry.load()
    importer.asked.clear()
    with pytest.raises(NotAllowed, match="was not imported at start-up"):
        registry.resolve("tests.jobs_for_tests.exits_on_import:anything")
    assert importer.asked == []
    assert "tests.jobs_for_tests.exits_on_import" not in sys.modules


def test_allow_callables_widens_to_public_callables_but_keeps_the_other_rules() -> None:
    registry = Registry(["tests.jobs_for_tests"], allow_callables=True)
    registry.load()
    assert registry.resolve(f"{JOBS}:JobClass") is worker_jobs.JobClass
    assert registry.resolve(f"{JOBS}:reexported") is worker_jobs.reexported
    for ref in (f"{JOBS}:_private_helper", "os:system", f"{JOBS}:add.__globals__"):
        with pytest.raises(NotAllowed):
            registry.resolve(ref)


def test_a_function_re_exported_from_another_allowed_module_is_named_where_it_is_defined() -> None:
    registry = Registry(["tests.jobs_for_tests"])
    registry.load()
    with pytest.raises(NotAllowed, match="name it there, or register it with @job"):
        registry.resolve(f"{JOBS}:reexported")
