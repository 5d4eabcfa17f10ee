"""Click groups whose subcommands are imported only when one of them runs.

A command's module drags in what the command needs (SQLAlchemy, kombu, pydantic, the whole
``Scheduler``); a group that imported every subcommand would make each of them pay for all
the others.  A ``LazyGroup`` knows its subcommands by name, import path and one-line
summary, lists them in ``--help`` from those summaries, and imports a subcommand's module
when it is invoked (or asked for its own help).  A unit test holds each summary equal to
the command's own first line, so the two never drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """A command known by name and summary; its module is imported when it is used."""

    target: str  # "module:attribute" of the click command
    summary: str  # the first line of its help, shown by the group's ``--help``

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


class LazyGroup(click.Group):
    """A group of lazily imported subcommands (``lazy``) beside any added the usual way."""

    def __init__(
        self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommand] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every command from its summary, without importing any of them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # An unloaded command is shortened by a stand-in holding its summary, exactly
            # as click would shorten the command itself.
            command = self.commands.get(name) or click.Command(name, help=self.lazy[name].summary)
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
