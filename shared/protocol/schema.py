"""JSON Schemas of the wire protocol, generated from the pydantic models.

The models are the source of truth; ``dueq schema --out docs/protocol`` writes these
files and a test fails when the committed ones differ, so the schemas a consumer in
another language validates against can never drift from what dueq sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from dueq.shared.protocol.events import Event
from dueq.shared.protocol.runs import RunRequest

__all__ = ["generate_schemas", "render_schema", "write_schemas"]

_BASE_ID = "https://dueq.dev/protocol/v1/"


def generate_schemas() -> dict[str, dict[str, Any]]:
    """Map each schema file name to its JSON Schema (draft 2020-12).

    Validation mode: the schemas accept exactly what dueq's decoders accept, so a
    message that passes the schema is one dueq will read.
    """
    run = RunRequest.model_json_schema(mode="validation")
    _require(run, ["protocol"])
    event = TypeAdapter(Event).json_schema(mode="validation")
    event["title"] = "Event"
    # "discriminator" is OpenAPI's keyword, not JSON Schema's; strict validators (ajv)
    # refuse it, and the oneOf already tells events apart by their "event" constant.
    event.pop("discriminator", None)
    for definition in event["$defs"].values():
        if "event" in definition.get("properties", {}):
            _require(definition, ["protocol", "event"])
    return {
        "run_request.json": _with_header(run, "run_request.json"),
        "event.json": _with_header(event, "event.json"),
    }


def render_schema(schema: dict[str, Any]) -> str:
    """The exact text written to disk (stable key order, trailing newline)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every schema into ``out_dir`` and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate_schemas().items():
        path = out_dir / name
        path.write_text(render_schema(schema), encoding="utf-8")
        written.append(path)
    return written


def _require(schema: dict[str, Any], fields: list[str]) -> None:
    """Mark fields required that the wire demands although Python callers may omit them."""
    required = schema.setdefault("required", [])
    required[:0] = [name for name in fields if name not in required]


def _with_header(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _BASE_ID + name,
        **schema,
    }
