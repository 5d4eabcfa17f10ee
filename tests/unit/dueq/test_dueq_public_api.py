"""``from dueq import ...`` gives the whole public API, loaded lazily from one table."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import dueq

INIT = Path(dueq.__file__)


def _type_checking_imports() -> set[str]:
    """The names the ``if TYPE_CHECKING:`` block imports (what mypy sees)."""
    tree = ast.parse(INIT.read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If))
    return {alias.name for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}  # fmt: skip


def test_all_the_lazy_table_and_the_type_checkers_view_list_the_same_names() -> None:
    public = set(dueq.__all__) - {"__version__"}
    assert public == set(dueq._PUBLIC) == _type_checking_imports()


def test_every_public_name_loads_from_its_home_module() -> None:
    for name, home in dueq._PUBLIC.items():
        value = getattr(dueq, name)
        assert value is getattr(__import__(home, fromlist=[name]), name)


def test_the_public_api_has_the_schedulers_triggers_job_events_and_errors() -> None:
    from dueq import (  # noqa: F401 - importing is the test
        EVENT_JOB_EXECUTED,
        BackgroundScheduler,
        CronTrigger,
        DueqError,
        IntervalTrigger,
        JobExecutionEvent,
        job,
    )


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        dueq.NoSuchThing  # noqa: B018 - the access is the test


def test_importing_dueq_loads_neither_sqlalchemy_nor_kombu() -> None:
    code = "import sys, dueq; print(sorted(m for m in ('sqlalchemy', 'kombu') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
