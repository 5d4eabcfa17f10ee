"""The local time zone of this process, by IANA name, as APScheduler 3 reads it.

APScheduler 3 takes naive datetimes and triggers without a zone in the machine's local
zone (``tzlocal``).  dueq does the same, but a job is stored with its zone's *name*, so
the zone must be found as a name: from ``TZ`` (``Asia/Shanghai``, ``:Asia/Shanghai`` or a
path under a zoneinfo directory), else from where ``/etc/localtime`` points, else from
``/etc/timezone``.  A zone that cannot be named (a POSIX ``TZ`` rule such as ``CST-8``, a
copied rather than linked ``/etc/localtime``) is UTC, with a warning: guessing a name
from an offset would get DST wrong.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["local_zone_name"]

logger = logging.getLogger(__name__)

_LOCALTIME = Path("/etc/localtime")
_TIMEZONE_FILE = Path("/etc/timezone")
# Spellings of UTC that are stored as plain "UTC", so that jobs read the same everywhere.
_UTC_ALIASES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal",
                          "Etc/Zulu", "Zulu", "Etc/GMT", "GMT", "Etc/GMT0", "GMT0",
                          "Etc/Greenwich", "Greenwich"})  # fmt: skip
# Every zoneinfo directory layout keeps the IANA name after this path segment.
_ZONEINFO_SEGMENT = "zoneinfo/"


def local_zone_name(environ: Mapping[str, str] | None = None) -> str:
    """The IANA name of the local zone (``"UTC"`` when it has none we can find)."""
    name = _find(os.environ if environ is None else environ)
    return "UTC" if name in _UTC_ALIASES else name


def _find(env: Mapping[str, str]) -> str:
    tz = env.get("TZ", "").strip()
    if tz:
        name = _name_from_text(tz.removeprefix(":"))
        if name is None:
            logger.warning("TZ=%r names no IANA time zone; using UTC", tz)
            return "UTC"
        return name
    for candidate in (_from_localtime_link(), _from_timezone_file()):
        if candidate is not None:
            return candidate
    return "UTC"


def _name_from_text(text: str) -> str | None:
    """A zone name given as a name or as a path into a zoneinfo directory."""
    if _ZONEINFO_SEGMENT in text:
        text = text.rsplit(_ZONEINFO_SEGMENT, 1)[1]
        for variant in ("posix/", "right/"):  # Debian's copies of the same zones
            text = text.removeprefix(variant)
    return text if _is_zone(text) else None


def _from_localtime_link() -> str | None:
    try:
        target = os.path.realpath(_LOCALTIME)
    except OSError:
        return None
    if _ZONEINFO_SEGMENT not in target:
        return None
    return _name_from_text(target)


def _from_timezone_file() -> str | None:
    try:
        text = _TIMEZONE_FILE.read_text().strip()
    except OSError:
        return None
    return text if text and _is_zone(text) else None


def _is_zone(name: str) -> bool:
    if not name or name.startswith("/"):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
