"""Packages that load their names on first use list the same names three ways, all working."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

# Every package whose ``__init__`` uses ``lazy_exports``.
LAZY_PACKAGES = (
    "dueq.shared.protocol",
    "dueq.producer.store",
    "dueq.producer.history",
    "dueq.producer.leader",
    "dueq.shared.triggers",
)


def _type_checking_imports(package: str) -> set[str]:
    """The names the package's ``if TYPE_CHECKING:`` block imports (what mypy sees)."""
    source = Path(importlib.import_module(package).__file__ or "").read_text()
    block = next(node for node in ast.parse(source).body if isinstance(node, ast.If))
    return {alias.name for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}  # fmt: skip


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_all_the_lazy_table_and_the_type_checkers_view_list_the_same_names(
    package: str,
) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == set(module._PUBLIC) == _type_checking_imports(package)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_name_loads_from_its_home_module(package: str) -> None:
    module = importlib.import_module(package)
    for name, home in module._PUBLIC.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), name)
        assert name in dir(module)


def test_an_unknown_name_is_an_attribute_error() -> None:
    protocol = importlib.import_module("dueq.shared.protocol")
    with pytest.raises(AttributeError, match="NoSuchThing"):
        protocol.NoSuchThing  # noqa: B018 - the access is the test


def test_the_retry_policy_loads_no_event_model_and_no_codec() -> None:
    probe = (
        "import sys; from dueq.shared.protocol import Overlap, RetryPolicy\n"
        "print(sorted(m for m in sys.modules if m.startswith('dueq.shared.protocol.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = ast.literal_eval(done.stdout.strip())
    assert loaded == ["dueq.shared.protocol.control", "dueq.shared.protocol.types"]
