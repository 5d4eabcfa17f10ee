"""The one error tree of dueq, shaped by who must react to each error.

Library exceptions (kombu, SQLAlchemy, pydantic) are wrapped at the adapter boundary with
``raise ... from exc`` so callers only ever catch these.  Anything that carries a URL keeps
it with the password already redacted, so an error can be logged or shown as it is.
"""

from __future__ import annotations

from dueq.shared.redact import redact_url

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "ConflictingIdError",
    "DueqError",
    "InvalidTriggerError",
    "JobLookupError",
    "ProtocolError",
    "ServiceUnavailable",
    "StoreUnavailable",
]


class DueqError(Exception):
    """Root of every error dueq raises on purpose."""


class ConfigError(DueqError):
    """A setting or argument is wrong; the user must change it (not retried)."""


class InvalidTriggerError(DueqError, ValueError):
    """A trigger argument or expression is invalid.

    Subclasses ``ValueError`` so code written for APScheduler (``except ValueError``) keeps
    working.  The message always names the field and the offending text.
    """

    def __init__(self, field: str, text: object, reason: str) -> None:
        self.field = field
        self.text = text
        self.reason = reason
        super().__init__(f"invalid {field} {text!r}: {reason}")


class ProtocolError(DueqError):
    """A message could not be decoded into a protocol model.

    Keeps the raw body (for dead-lettering) and a one-line reason (for the dead-letter
    headers and the ``job_rejected`` event).
    """

    def __init__(self, reason: str, raw: bytes = b"") -> None:
        self.reason = reason
        self.raw = raw
        super().__init__(reason)


class JobLookupError(DueqError, KeyError):
    """No job with the given id exists (``KeyError`` as in APScheduler)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}")

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and wrap it in quotes.
        return str(self.args[0])


class ConflictingIdError(DueqError, KeyError):
    """A job with the given id exists already and ``replace_existing`` was not set."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"a job with id {job_id!r} exists already")

    def __str__(self) -> str:
        return str(self.args[0])


class ServiceUnavailable(DueqError):
    """A service (broker or database) cannot be reached; transient, so callers retry."""

    service = "service"

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_url(url)
        self.reason = reason
        super().__init__(f"{self.service} unavailable at {self.url}: {reason}")


class BrokerUnavailable(ServiceUnavailable):
    """RabbitMQ (or the configured kombu transport) cannot be reached."""

    service = "broker"


class StoreUnavailable(ServiceUnavailable):
    """The SQL database cannot be reached."""

    service = "database"
