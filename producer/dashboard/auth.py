"""Who may use the dashboard: anyone on loopback, a token holder beyond it.

A dashboard bound to a loopback address is reachable only from this machine, like the
CLI.  Bound to anything else it changes jobs for whoever reaches it, so it refuses to
start without a token, and every request must carry it: ``Authorization: Bearer``, the
``dueq_token`` cookie, or ``?token=`` once (which sets the cookie and redirects to the
same page without it, so the token does not stay in the address bar or in logs).

Changes (POST) also need the ``X-Dueq-Action`` header, which a browser only sends from
the dashboard's own script: another site cannot forge a click with the cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dueq.shared.errors import ConfigError

__all__ = ["ACTION_HEADER", "TOKEN_COOKIE", "TokenGate", "is_loopback", "require_token"]

TOKEN_COOKIE = "dueq_token"
ACTION_HEADER = "x-dueq-action"
# Shorter tokens are guessable; 16 characters of a random token are ~96 bits.
_MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def require_token(host: str, token: str | None) -> str | None:
    """The token requests must carry when bound to ``host`` (None: loopback, no token).

    Raises ``ConfigError`` when bound beyond loopback without a token of at least 16
    characters.
    """
    if token:
        if len(token) < _MIN_TOKEN_CHARS:
            raise ConfigError(f"the dashboard token must be at least {_MIN_TOKEN_CHARS} chars")
        return token
    if is_loopback(host):
        return None
    raise ConfigError(
        f"the dashboard is bound to {host}, beyond loopback: set a login token with "
        "--token or DUEQ_DASHBOARD_TOKEN (e.g. `python -c 'import secrets; "
        "print(secrets.token_urlsafe())'`)"
    )


class TokenGate:
    """ASGI middleware: the token check, and the action header on every POST."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is None:
            await self._app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        if request.url.path.startswith("/static/"):
            return None
        if request.method == "POST" and request.headers.get(ACTION_HEADER) != "1":
            return PlainTextResponse("changes come from the dashboard's own page", 403)
        if self._token is None:
            return None
        query = request.query_params.get("token")
        if query is not None and self._matches(query):
            return _remember(request, query)
        if self._matches(_bearer(request)) or self._matches(request.cookies.get(TOKEN_COOKIE)):
            return None
        return PlainTextResponse(
            "dueq dashboard: a login token is required (open the page with ?token=...)", 401
        )

    def _matches(self, candidate: str | None) -> bool:
        assert self._token is not None
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self._token.encode()
        )


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value if scheme.lower() == "bearer" and value else None


def _remember(request: Request, token: str) -> Response:
    """Set the cookie and send the browser to the same page without ``?token=``."""
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = request.url.replace(query=urlencode(rest))
    response = RedirectResponse(str(target), status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response
