"""``dueq`` pauses the garbage collector for every command but the services."""

from __future__ import annotations

import gc

import click
import pytest
from click.testing import CliRunner

from dueq.cli import COMMANDS, SERVICES, DueqGroup


def _group_recording(names: list[str], seen: dict[str, bool]) -> click.Group:
    """A ``dueq``-style group whose commands record whether the collector was running."""
    group = DueqGroup(name="dueq")
    for name in names:

        @click.command(name=name)
        def record(name: str = name) -> None:
            seen[name] = gc.isenabled()

        group.add_command(record)
    return group


def test_every_service_is_a_command() -> None:
    assert SERVICES.issubset(COMMANDS)


@pytest.mark.usefixtures("collector_enabled")
@pytest.mark.parametrize(("name", "collecting"), [("jobs", False), ("runs", False), *(
    (service, True) for service in sorted(SERVICES))])  # fmt: skip
def test_only_services_run_with_the_collector(name: str, collecting: bool) -> None:
    seen: dict[str, bool] = {}

    result = CliRunner().invoke(_group_recording([name], seen), [name])

    assert result.exit_code == 0, result.output
    assert seen == {name: collecting}
    assert gc.isenabled()  # restored once the command has run
