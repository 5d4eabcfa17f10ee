"""Password redaction for URLs and for any text that might contain one.

Every URL dueq logs, prints or puts in an exception goes through here first: credentials
must never reach a log line or an error message (DESIGN.md, guarantees).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "URL_SEPARATOR", "redact_text", "redact_url", "split_urls"]

REDACTED = "***"
# Separates the nodes of a failover broker URL (``amqp://n1;amqp://n2``), as in kombu.
URL_SEPARATOR = ";"

# scheme://user:password@host — the password is everything between the first ':' after
# '//' and the last '@' before the host (passwords may themselves contain '@' or ':').
_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^\s/]*)@"
)


def split_urls(url: str) -> list[str]:
    """The nodes of a failover URL (``amqp://n1;amqp://n2``), blanks dropped; one for others."""
    return [part.strip() for part in url.split(URL_SEPARATOR) if part.strip()] or [url]


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (user, host and path kept).

    A failover list (``amqp://u:p@n1;amqp://u:p@n2``) is redacted node by node: parsed as
    one URL, every node after the first would end up in the path, password and all.
    """
    if URL_SEPARATOR in url:
        return URL_SEPARATOR.join(_redact_one(part) for part in url.split(URL_SEPARATOR))
    return _redact_one(url)


def _redact_one(url: str) -> str:
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
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_text(text: str) -> str:
    """Redact every ``scheme://user:password@`` found anywhere in free text."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
