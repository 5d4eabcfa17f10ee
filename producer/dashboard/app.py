"""The dashboard's ASGI app: pages, their live fragments, and the actions behind buttons.

Every page is rendered on the server; its live part (``<div id="live">``) is fetched
again every few seconds with ``?partial=1`` by ``static/dashboard.js``.  Buttons POST to
``/jobs/{id}/{action}`` and ``/dead/...`` and get a one-line JSON answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from dueq.producer.dashboard.auth import TokenGate
from dueq.producer.dashboard.forecast import Forecast, forecast
from dueq.producer.dashboard.views import Dashboard, RunFilter, parse_statuses
from dueq.producer.history import RunStatus
from dueq.shared.errors import JobLookupError
from dueq.shared.redact import redact_url

__all__ = ["create_app"]

_HERE = Path(__file__).parent
# Seconds between refreshes of a page's live part: fresh enough to watch runs happen,
# slow enough that an open tab costs the database nothing worth measuring.
REFRESH_S = 2.0
# The forecast moves by the minute and its page is large: refresh it less often, and
# compute it at most once a minute (walking every trigger for a day takes seconds).
_FORECAST_REFRESH_MS = 30_000
_FORECAST_CACHE_S = 60.0
_BUSIEST = 10


def create_app(
    dashboard: Dashboard, *, token: str | None, refresh_s: float = REFRESH_S
) -> Starlette:
    """The dashboard over ``dashboard``; ``token`` None means no login (loopback only)."""
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    pages = _Pages(dashboard, templates, refresh_s)
    routes = [
        Route("/", lambda _: RedirectResponse("/jobs", 307)),
        Route("/jobs", pages.jobs),
        Route("/jobs/{job_id:path}/{action}", pages.job_action, methods=["POST"]),
        Route("/forecast", pages.forecast),
        Route("/runs", pages.runs),
        Route("/runs/{run_id:path}", pages.run),
        Route("/workers", pages.workers),
        Route("/dead", pages.dead),
        Route("/dead/replay", pages.dead_replay, methods=["POST"]),
        Route("/dead/purge", pages.dead_purge, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TokenGate, token=token)])


class _Pages:
    """The endpoints (Starlette runs these plain functions in its thread pool)."""

    def __init__(self, dashboard: Dashboard, templates: Jinja2Templates, refresh_s: float):
        self._dashboard = dashboard
        self._templates = templates
        self._refresh_s = refresh_s
        self._forecast: tuple[float, Forecast] | None = None
        self._forecast_lock = threading.Lock()

    def _render(self, request: Request, page: str, **context: Any) -> Response:
        partial = request.query_params.get("partial") == "1"
        name = f"_{page}.html" if partial else f"{page}.html"
        settings = self._dashboard.scheduler.settings
        context = {
            "page": page,
            "refresh_ms": int(self._refresh_s * 1000),
            "database": redact_url(settings.database_url.reveal()),
            "zone": str(settings.zone),
            **context,
        }
        return self._templates.TemplateResponse(request, name, context)

    def jobs(self, request: Request) -> Response:
        jobs, total = self._dashboard.jobs()
        return self._render(request, "jobs", jobs=jobs, total=total)

    def job_action(self, request: Request) -> Response:
        job_id, action = request.path_params["job_id"], request.path_params["action"]
        scheduler = self._dashboard.scheduler
        verbs: dict[str, Callable[[], object]] = {
            "pause": lambda: scheduler.pause_job(job_id),
            "resume": lambda: scheduler.resume_job(job_id),
            "run-now": lambda: scheduler.modify_job(job_id, next_run_time=datetime.now(UTC)),
            "remove": lambda: scheduler.remove_job(job_id),
        }
        if action not in verbs:
            return JSONResponse({"message": f"unknown action {action!r}"}, 404)
        try:
            verbs[action]()
        except JobLookupError:
            return JSONResponse({"message": f"no job {job_id!r}"}, 404)
        return JSONResponse({"message": f"{action}: {job_id}"})

    def _current_forecast(self) -> Forecast:
        """The forecast, computed again once it is a minute old (one thread at a time)."""
        with self._forecast_lock:
            cached = self._forecast
            if cached is None or time.monotonic() - cached[0] > _FORECAST_CACHE_S:
                result = forecast(self._dashboard.scheduler.get_jobs(), datetime.now(UTC))
                self._forecast = cached = (time.monotonic(), result)
            return cached[1]

    def forecast(self, request: Request) -> Response:
        result = self._current_forecast()
        zone = self._dashboard.zone
        hours = [
            [(cell, result.per_minute.get(cell, 0)) for cell in _hour(result.start, h)]
            for h in range(24)
        ]
        peak = max(result.per_minute.values(), default=0)
        return self._render(
            request,
            "forecast",
            result=result,
            hours=hours,
            peak=peak,
            busiest=[(_local(t, zone), n) for t, n in result.busiest(_BUSIEST)],
            local=lambda t: _local(t, zone),
            refresh_ms=_FORECAST_REFRESH_MS,
        )

    def runs(self, request: Request) -> Response:
        query = request.query_params
        zone = self._dashboard.zone
        chosen = RunFilter(
            job_id=query.get("job") or None,
            statuses=parse_statuses(query.getlist("status")),
            since=_moment(query.get("since"), zone),
            until=_moment(query.get("until"), zone),
        )
        return self._render(
            request,
            "runs",
            runs=self._dashboard.runs(chosen),
            chosen=chosen,
            statuses=[s.value for s in RunStatus],
            query=query,
        )

    def run(self, request: Request) -> Response:
        executions = self._dashboard.executions(request.path_params["run_id"])
        if not executions:
            return Response("no such run", 404)
        return self._render(request, "run", run=executions[-1], executions=executions)

    def workers(self, request: Request) -> Response:
        return self._render(request, "workers", workers=self._dashboard.workers())

    def dead(self, request: Request) -> Response:
        return self._render(request, "dead", dead=self._dashboard.dead())

    def dead_replay(self, request: Request) -> Response:
        keys = request.query_params.getlist("key")
        everything = request.query_params.get("all") == "1"
        if not keys and not everything:
            return JSONResponse({"message": "give key=... or all=1"}, 400)
        result = self._dashboard.dead_letters.replay(None if everything else keys)
        kept = f", kept {len(result.skipped)}" if result.skipped else ""
        return JSONResponse({"message": f"replayed {len(result.replayed)}{kept}"})

    def dead_purge(self, request: Request) -> Response:
        if request.query_params.get("confirm") != "yes":
            return JSONResponse({"message": "purge needs confirm=yes"}, 400)
        return JSONResponse({"message": f"purged {self._dashboard.dead_letters.purge()}"})


def _hour(start: datetime, hour: int) -> list[datetime]:
    base = start + timedelta(hours=hour)
    return [base + timedelta(minutes=m) for m in range(60)]


def _local(moment: datetime, zone: tzinfo) -> str:
    shown = moment.astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname() or ''}".rstrip()


def _moment(text: str | None, zone: tzinfo) -> datetime | None:
    """A filter time from a form (``2026-12-06T09:00``; no offset: the scheduler's zone)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None  # a bad filter shows everything rather than an error page
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
