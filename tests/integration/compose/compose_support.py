"""Reading compose/docker-compose.yml the way ``docker compose`` does, for local processes.

``interpolate`` implements the parts of compose's variable syntax the file uses
(``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``$$``), and
``service_environment`` gives a service's environment after interpolation with the
service host names mapped to the loopback address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[3] / "compose" / "docker-compose.yml"

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}"
)


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` variable was not set."""


def load_compose() -> dict[str, Any]:
    """The compose file as data (YAML anchors and merge keys resolved)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with compose variables substituted from ``variables``."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = variables.get(name)
        missing = not value if op in (":-", ":?") else value is None
        if not missing:
            return str(value)
        if op in (":?", "?"):
            raise InterpolationError(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(substitute, text)


def service_environment(
    service: Mapping[str, Any], variables: Mapping[str, str], hosts: Mapping[str, str]
) -> dict[str, str]:
    """The service's environment, interpolated, with ``host:port`` in URLs mapped by ``hosts``.

    Inside the compose network services are reached by name (``rabbitmq:5672``); the local
    processes reach the real services wherever the test found them.
    """
    environment = service.get("environment") or {}
    result = {}
    for key, raw in environment.items():
        value = interpolate(str(raw), variables)
        for inside, outside in hosts.items():
            value = value.replace(f"@{inside}/", f"@{outside}/")
        result[key] = value
    return result


def dueq_command(service: Mapping[str, Any], variables: Mapping[str, str]) -> list[str]:
    """The service's command (the image's entrypoint is ``dueq``), interpolated."""
    return [interpolate(str(part), variables) for part in service["command"]]


def healthcheck_command(service: Mapping[str, Any]) -> list[str]:
    """The healthcheck's exec form without its leading ``CMD``."""
    test = list(service["healthcheck"]["test"])
    assert test[0] == "CMD", f"healthcheck must use the exec form, not {test[0]}"
    return [str(part) for part in test[1:]]
