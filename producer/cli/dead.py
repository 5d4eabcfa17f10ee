"""``dueq dead``: list, show, replay and purge dead-lettered messages.

Messages land in ``<prefix>.dead`` when a worker will not or cannot run them (bad payload,
unknown function, delivery limit reached), with the reason in the ``x-dueq-reason``
header.  A replayed run keeps its ``run_id``, so a run that did execute before it was
dead-lettered is dropped by the workers as a duplicate rather than run again.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from dueq.producer.cli.common import json_option, service_options, settings_from
from dueq.producer.cli.output import console, print_json, short
from dueq.producer.deadletters import DeadLetterLookupError, DeadLetters, DeadView

__all__ = ["dead_group"]


def _dead_letters(options: dict[str, Any]) -> DeadLetters:
    settings = settings_from(options)
    return DeadLetters(settings.broker_url.reveal(), settings.topology())


@click.group(name="dead")
def dead_group() -> None:
    """Dead-lettered messages: see why, send them back, or delete them.

    \b
    Examples:
      dueq dead list
      dueq dead show 3f2a...
      dueq dead replay --all
      dueq dead purge --yes
    """


@dead_group.command(name="list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@service_options
def list_dead(limit: int, as_json: bool, **options: Any) -> None:
    """List dead letters, oldest first, with their reason; the queue is not changed.

    \b
    Example:
      dueq dead list --limit 20 --json
    """
    views = _dead_letters(options).list(limit)
    if as_json:
        print_json([view.as_dict() for view in views])
        return
    table = Table(title=f"{len(views)} dead letter(s)", title_justify="left")
    for header in ("#", "key", "job", "reason", "from queue", "dead at"):
        table.add_column(header, overflow="fold")
    for view in views:
        table.add_row(
            str(view.position),
            view.key,
            view.job_id or "-",
            Text(short(view.reason, 80), style="red"),
            view.source_queue,
            view.dead_at,
        )
    console().print(table)


@dead_group.command(name="show")
@click.argument("key")
@json_option
@service_options
def show_dead(key: str, as_json: bool, **options: Any) -> None:
    """Show one dead letter (KEY from `dueq dead list`): headers and body.

    \b
    Example:
      dueq dead show 5fec76a2-0447-5426-bdb0-28728ccd9361
    """
    view = _dead_letters(options).show(key)
    if view is None:
        raise DeadLetterLookupError([key])
    if as_json:
        print_json(view.as_dict())
        return
    _print_view(view)


def _print_view(view: DeadView) -> None:
    out = console()
    out.print(
        f"[bold]{view.key}[/]  job {view.job_id or '-'}  from {view.source_queue}  "
        f"({view.size} bytes)"
    )
    out.print(Text(f"reason: {view.reason}", style="red"))
    for name, value in sorted(view.headers.items()):
        out.print(Text(f"  {name}: {value}"))
    out.rule("body", align="left")
    out.print(Text(view.body_text))


@dead_group.command(name="replay")
@click.argument("keys", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@service_options
def replay_dead(keys: tuple[str, ...], replay_all: bool, **options: Any) -> None:
    """Send dead letters back to the queue they came from (KEY..., or --all).

    A run keeps its run_id: workers drop it if that run already executed.

    \b
    Examples:
      dueq dead replay 5fec76a2-0447-5426-bdb0-28728ccd9361
      dueq dead replay --all
    """
    if bool(keys) == replay_all:
        raise click.UsageError("give KEY... or --all (not both)")
    result = _dead_letters(options).replay(None if replay_all else keys)
    missing = set(keys) - set(result.replayed) - {key for key, _ in result.skipped}
    click.echo(f"replayed {len(result.replayed)} dead letter(s)")
    for key, why in result.skipped:
        click.echo(f"kept {key}: {why}", err=True)
    if missing:
        raise DeadLetterLookupError(missing)


@dead_group.command(name="purge")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@service_options
def purge_dead(yes: bool, **options: Any) -> None:
    """Delete every dead letter (asks first unless --yes).

    \b
    Example:
      dueq dead purge --yes
    """
    dead = _dead_letters(options)
    if not yes:
        click.confirm(f"delete all {dead.count()} dead letter(s)?", abort=True)
    click.echo(f"purged {dead.purge()} dead letter(s)")
