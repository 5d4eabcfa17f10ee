"""Log configuration for every dueq process: one place, two formats.

Every process (``dueq scheduler``, ``dueq worker``, ``dueq up``, the CLI) configures the
root logger here once, at its edge, from ``DUEQ_LOG_LEVEL`` (default INFO) and
``DUEQ_LOG_FORMAT`` (``text``, the default, or ``json``: one JSON object per line, for log
shippers).  Library code only ever calls ``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "configure_logging",
    "log_settings",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Libraries that narrate at INFO what a dueq user never needs to read (Alembic prints a
# line per schema check); they speak at WARNING unless the user asks for DEBUG.
_CHATTY_LIBRARIES = ("alembic",)
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept in
# the JSON object (``run_id``, ``job_id``...).
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_settings(
    environ: Mapping[str, str], level: str | None = None, fmt: str | None = None
) -> tuple[str, str]:
    """The level and format to use: the arguments, else ``DUEQ_LOG_*``, else INFO/text.

    Raises ``ValueError`` naming the variable when a value is not one dueq knows.
    """
    chosen_level = (level or environ.get("DUEQ_LOG_LEVEL") or "INFO").upper()
    chosen_format = (fmt or environ.get("DUEQ_LOG_FORMAT") or "text").lower()
    if chosen_level not in LOG_LEVELS:
        raise ValueError(f"DUEQ_LOG_LEVEL {chosen_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if chosen_format not in LOG_FORMATS:
        raise ValueError(
            f"DUEQ_LOG_FORMAT {chosen_format!r} is not one of {', '.join(LOG_FORMATS)}"
        )
    return chosen_level, chosen_format


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send every record at ``level`` or above to ``stream`` (stderr) in ``fmt``.

    Replaces the root logger's handlers, so calling it twice (a test, ``dueq up`` inside the
    CLI) never prints a line twice, and clears levels set on dueq's loggers before (``dueq
    up`` quiets some), so ``level`` is what holds.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, existing in logging.root.manager.loggerDict.items():
        if name.startswith("dueq") and isinstance(existing, logging.Logger):
            existing.setLevel(logging.NOTSET)
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)
