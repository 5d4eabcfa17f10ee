"""The figures fault tests report, and the RESULTS.md they are written into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Figures", "write_results"]


@dataclass
class Figures:
    """What one test checked: named numbers (counts, kills, seconds), its time and outcome."""

    test: str
    values: dict[str, float | int | str] = field(default_factory=dict)
    seconds: float = 0.0
    outcome: str = ""

    def __setitem__(self, name: str, value: float | int | str) -> None:
        self.values[name] = round(value, 2) if isinstance(value, float) else value

    def describe(self) -> str:
        """One line: the test, its time, its figures."""
        shown = ", ".join(f"{k}={v}" for k, v in self.values.items())
        return f"[faults] {self.test} ({self.seconds:.1f} s): {shown}"


def write_results(path: Path, collected: list[Figures]) -> None:
    """Write the figures of a session as one Markdown table, a row per test."""
    total = sum(f.seconds for f in collected)
    lines = [
        "# Fault-injection results",
        "",
        f"Written by `FAULTS_RESULTS={path.name} pytest tests/faults` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: real RabbitMQ 3.10 and PostgreSQL 15, real "
        f"`dueq` processes, a 2-core host; {len(collected)} tests in {total:.0f} s. "
        "`xfailed` marks a test that demonstrates a known, reported bug.",
        "",
        "| test | result | time | figures checked |",
        "|---|---|---|---|",
    ]
    for figures in collected:
        shown = ", ".join(f"{k} {v}" for k, v in figures.values.items())
        lines.append(
            f"| `{figures.test}` | {figures.outcome} | {figures.seconds:.1f} s | {shown} |"
        )
    path.write_text("\n".join(lines) + "\n")
