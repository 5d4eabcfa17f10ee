"""Commands about the shared contract: protocol schemas and trigger previews."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from dueq.shared.protocol.schema import write_schemas
from dueq.shared.triggers import CronTrigger

__all__ = ["next_fire_times", "schema"]


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/protocol"),
    show_default=True,
    help="Folder to write the schema files into.",
)
def schema(out: Path) -> None:
    """Write the protocol's JSON Schemas, generated from the models.

    \b
    Example:
      dueq schema --out docs/protocol
    """
    for path in write_schemas(out):
        click.echo(f"wrote {path}")


@click.command(name="next")
@click.argument("expression")
@click.option("--count", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option("--timezone", "zone", default="UTC", show_default=True, help="IANA zone name.")
def next_fire_times(expression: str, count: int, zone: str) -> None:
    """Print the next fire times of a crontab EXPRESSION.

    \b
    Example:
      dueq next "*/5 * * * *" --count 3 --timezone Europe/Berlin
    """
    trigger = CronTrigger.from_crontab(expression, timezone=zone)
    now = datetime.now(UTC)
    previous = None
    for _ in range(count):
        fire_time = trigger.get_next_fire_time(previous, now)
        if fire_time is None:
            break
        click.echo(fire_time.isoformat())
        previous = fire_time
