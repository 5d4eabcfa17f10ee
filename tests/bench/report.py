"""The side-by-side table (Markdown, readable in a terminal and pasteable into the README)
and the raw JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.model import Row, ScenarioResult

__all__ = ["format_table", "write_json"]

_HEADER = ("scenario", "metric", "dueq", "reference", "ref value", "ratio", "target", "ok")


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _verdict(ok: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[ok]


def _cells(row: Row) -> tuple[str, ...]:
    ratio = row.ratio
    metric = f"{row.metric} ({row.note})" if row.note else row.metric
    return (
        row.scenario,
        metric,
        _number(row.dueq, row.unit),
        row.reference or "",
        _number(row.ref_value, row.unit),
        "-" if ratio is None else f"{ratio:.2f}x",
        row.target,
        _verdict(row.ok),
    )


def format_table(results: Sequence[ScenarioResult]) -> str:
    """A Markdown table of every row, then one line per failed scenario."""
    lines = [_cells(row) for result in results for row in result.rows]
    widths = [max([len(h), *(len(c[i]) for c in lines)]) for i, h in enumerate(_HEADER)]

    def render(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [render(_HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(render(cells) for cells in lines)
    for result in results:
        if result.error:
            out.append(f"\n{result.name}: FAILED: {result.error}")
    return "\n".join(out)


def write_json(directory: Path, results: Sequence[ScenarioResult], meta: dict[str, Any]) -> Path:
    """Write everything to ``directory/<UTC timestamp>.json`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}.json"
    document = {
        "meta": meta,
        "scenarios": [
            {
                "name": r.name,
                "seconds": round(r.seconds, 1),
                "error": r.error,
                "rows": [row.to_json() for row in r.rows],
                "raw": r.raw,
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(document, indent=2, default=str, allow_nan=True) + "\n")
    return path
