"""``dueq dashboard``: the web UI over the job store, run history, workers and dead letters.

The web stack (Starlette, Jinja2, uvicorn) is imported inside the command only, so the
rest of the CLI neither needs nor loads it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from dueq.producer.cli.common import scheduler_client, service_options, settings_from
from dueq.producer.cli.specs import DURATION
from dueq.shared.errors import ConfigError

__all__ = ["dashboard_command"]

DEFAULT_PORT = 8700


@click.command(name="dashboard")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="DUEQ_DASHBOARD_HOST",
    help="Address to bind; beyond loopback a --token is required. [env DUEQ_DASHBOARD_HOST]",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="DUEQ_DASHBOARD_PORT",
    help="Port to serve on. [env DUEQ_DASHBOARD_PORT]",
)
@click.option(
    "--token",
    envvar="DUEQ_DASHBOARD_TOKEN",
    help="Login token (16+ characters); open the page once with ?token=... "
    "[env DUEQ_DASHBOARD_TOKEN]",
)
@click.option(
    "--heartbeat-interval",
    type=DURATION,
    default="10s",
    show_default=True,
    envvar="DUEQ_HEARTBEAT_INTERVAL",
    help="The workers' heartbeat interval (a worker silent for three is lost).",
)
@service_options
def dashboard_command(
    host: str, port: int, token: str | None, heartbeat_interval: timedelta, **options: Any
) -> None:
    """Serve the dashboard: jobs, a 24-hour forecast, runs, workers and dead letters.

    It reads the same job store and run history as the other commands and changes jobs
    the same way (pause, resume, run now, remove). Pages refresh themselves.

    \b
    Examples:
      dueq dashboard                                  # http://127.0.0.1:8700
      DUEQ_DASHBOARD_TOKEN=... dueq dashboard --host 0.0.0.0
    """  # fmt: skip
    try:
        from dueq.producer.dashboard.server import DashboardServer
        from dueq.producer.dashboard.views import Dashboard
        from dueq.producer.deadletters import DeadLetters
    except ImportError as exc:
        raise ConfigError(f"the dashboard needs pip install 'dueq[dashboard]' ({exc})") from exc
    settings = settings_from(options)
    with scheduler_client(options) as scheduler:
        # Open the database now: a wrong URL fails here, in one line, not on every page.
        scheduler.get_job("")
        dead = DeadLetters(settings.broker_url.reveal(), settings.topology())
        dashboard = Dashboard(scheduler, dead, heartbeat=heartbeat_interval)
        server = DashboardServer(dashboard, host=host, port=port, token=token)
        click.echo(f"dueq dashboard on http://{host}:{server.port} (Ctrl-C stops)")
        server.run()
