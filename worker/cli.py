"""The worker's commands (mounted by ``dueq.cli``)."""

from __future__ import annotations

import click

__all__ = ["COMMANDS"]

COMMANDS: list[click.Command] = []
