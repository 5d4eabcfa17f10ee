"""Callables become wire references that another process can resolve, or are refused."""

from __future__ import annotations

import pytest

from dueq.shared.errors import ConfigError
from dueq.shared.funcref import func_ref, job, parse_func_ref


@job("reports.nightly")
def registered() -> None:
    """A function registered under a name."""


def plain() -> None:
    """A module-level function."""


def test_a_registered_function_travels_by_its_name() -> None:
    assert func_ref(registered) == "reports.nightly"


def test_a_module_level_function_travels_as_module_and_qualname() -> None:
    assert func_ref(plain) == f"{plain.__module__}:plain"


def test_lambdas_and_closures_are_refused_with_the_reason() -> None:
    def inner() -> None:
        """A closure."""

    with pytest.raises(ConfigError, match="lambda or a nested function"):
        func_ref(lambda: None)
    with pytest.raises(ConfigError, match="nested function"):
        func_ref(inner)


def test_strings_are_checked_and_passed_through() -> None:
    assert func_ref("pkg.mod:func") == "pkg.mod:func"
    assert parse_func_ref("pkg.mod:Cls.method") == ("pkg.mod", "Cls.method")
    assert parse_func_ref("reports.nightly") == (None, "reports.nightly")


@pytest.mark.parametrize("bad", ["../x", "os:system()", "a:b:c", "", "x" * 300, "mod:"])
def test_malformed_references_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="invalid function reference"):
        parse_func_ref(bad)


def test_job_names_cannot_look_like_module_references() -> None:
    with pytest.raises(ConfigError, match="invalid job name"):
        job("os:system")
