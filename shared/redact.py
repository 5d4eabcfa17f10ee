"""Password redaction for URLs and for any text that might contain one.

Every URL dueq logs, prints or puts in an exception goes through here first: credentials
must never reach a log line or an error message (DESIGN.md, guarantees).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "PLACEHOLDER_PASSWORD",
    "REDACTED",
    "URL_SEPARATOR",
    "normalize_url",
    "placeholder_password",
    "redact_text",
    "redact_url",
    "split_urls",
]

REDACTED = "***"
# Separates the nodes of a failover broker URL (``amqp://n1;amqp://n2``), as in kombu.
URL_SEPARATOR = ";"
# The password compose/.env.example ships: a deployment that kept it is refused at start.
PLACEHOLDER_PASSWORD = "change-me"

# scheme://user:password@ -- the password runs to the LAST '@' of the whitespace- or
# quote-delimited token: passwords may hold raw '@', ':', '/', '?' or '#' (over-redacting a
# path that also holds an '@' is the safe side).
_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s'\"]*):(?P<pw>[^\s'\";]*)@"
)
# Secrets passed as parameters: ?password=..., libpq's "password=...", "sslpassword=...".
_SECRET_PARAMETER = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|sslpassword|sslkey_password|secret|token|api_?key)"
    r"\s*=\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;,'\")]*)"
)
# Raw characters that end a URL's userinfo early when not percent-encoded.
_UNSAFE_IN_USERINFO = re.compile(r"[/?#@\[\]\s]")


def normalize_url(url: str) -> str:
    """``url`` with raw reserved characters in its user and password percent-encoded.

    ``amqp://svc:pa/ss@mq//`` means user ``svc``, password ``pa/ss`` to the person who
    wrote it, but every URL parser splits it at the ``/``: kombu then reads part of the
    password as a port and prints it in its error.  Splitting at the last ``@`` and
    encoding user and password gives the parsers what was meant.  URLs without such
    characters are returned unchanged.
    """
    if URL_SEPARATOR in url:  # a failover list: each node on its own
        return URL_SEPARATOR.join(normalize_url(part) for part in url.split(URL_SEPARATOR))
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, hostpart = _split_userinfo(rest)
    if not at:
        return url
    user, colon, password = userinfo.partition(":")
    if not _UNSAFE_IN_USERINFO.search(userinfo[: len(user)] + password):
        return url
    encoded = quote(unquote(user), safe="")
    if colon:
        encoded += ":" + quote(unquote(password), safe="")
    return f"{scheme}://{encoded}@{hostpart}"


def _split_userinfo(rest: str) -> tuple[str, str, str]:
    """(userinfo, "@", host and the rest) of what follows ``scheme://``, or ("", "", rest).

    The user info ends at the last ``@`` before the query, so an ``@`` inside
    ``?password=a@b`` is not taken for it; if no ``@`` comes before the first ``?`` or
    ``#``, one of those may be a raw character of the password, so the last ``@`` counts
    as long as no ``/`` showed that the host part had already ended.
    """
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    if "@" in head:
        userinfo, at, tail = head.rpartition("@")
        return userinfo, at, tail + rest[len(head) :]
    if "/" in head or "@" not in rest:
        return "", "", rest
    return rest.rpartition("@")


def placeholder_password(url: str) -> bool:
    """True if ``url`` (or a node of a failover list) has the placeholder ``change-me``."""
    if URL_SEPARATOR in url:
        return any(placeholder_password(part) for part in url.split(URL_SEPARATOR))
    try:
        password = urlsplit(normalize_url(url)).password
    except ValueError:
        return False
    return password is not None and unquote(password) == PLACEHOLDER_PASSWORD


def split_urls(url: str) -> list[str]:
    """The nodes of a failover URL (``amqp://n1;amqp://n2``), blanks dropped; one for others."""
    return [part.strip() for part in url.split(URL_SEPARATOR) if part.strip()] or [url]


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (user, host and path kept).

    A failover list (``amqp://u:p@n1;amqp://u:p@n2``) is redacted node by node: parsed as
    one URL, every node after the first would end up in the path, password and all.
    Also hides secret query parameters (``?password=``) and copes with raw reserved
    characters in the password.
    """
    if URL_SEPARATOR in url:
        return URL_SEPARATOR.join(_redact_one(part) for part in url.split(URL_SEPARATOR))
    return _redact_one(url)


def _redact_one(url: str) -> str:
    url = normalize_url(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{REDACTED}@{host}"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    query = _SECRET_PARAMETER.sub(_hide_value, parts.query)
    # Belt and braces for URLs no parser reads as meant (a raw '@' and '?' in a password).
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def redact_text(text: str) -> str:
    """Redact every ``scheme://user:password@`` and ``password=...`` found in free text."""
    # Parameters first: the credentials pattern runs to the token's last '@', which may sit
    # inside a "?password=a@b" that must be recognised before it is swallowed.
    text = _SECRET_PARAMETER.sub(_hide_value, text)
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


def _hide_value(match: re.Match[str]) -> str:
    return f"{match['key']}{REDACTED}"
