"""Printing for people (rich tables) and for scripts (``--json``), shared by the commands."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

import click
from rich.console import Console

__all__ = ["console", "format_duration", "format_time", "print_json", "short"]

# Width of tables written to a pipe or file (no terminal to fit): wide enough that rows of
# runs and workers stay on one line each, so grep and less work on them.
_PIPE_WIDTH = 200
# Longest text a table cell shows before it is cut (return values, error messages).
_CELL_CHARS = 60


def console() -> Console:
    """A console on stdout; plain text, and tables up to ``_PIPE_WIDTH`` wide, when piped."""
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=_PIPE_WIDTH)
    return out


def format_time(value: datetime | None, zone: tzinfo) -> str:
    """``2026-12-01 09:00:00 CET`` in ``zone``, or ``-``."""
    if value is None:
        return "-"
    shown = value.astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M:%S} {shown.tzname() or ''}".rstrip()


def format_duration(seconds: float | None) -> str:
    """``0.012s``, ``3.5s``, ``2m05s``, or ``-``."""
    if seconds is None:
        return "-"
    if seconds < 60:  # below a minute, seconds read best
        return f"{seconds:.3f}s" if seconds < 1 else f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def short(text: str, limit: int = _CELL_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (datetimes as ISO 8601)."""
    click.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return repr(value)
