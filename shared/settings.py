"""Settings common to every dueq process, read once at the edge and passed down.

Each side extends ``DueqSettings`` with its own fields (``producer.settings``,
``worker.settings``); all of them read ``DUEQ_*`` environment variables, keyword
arguments or a dict, and are frozen once built.  URLs are held as ``ServiceUrl`` so that
printing a settings object, or logging it, never shows a password.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, GetCoreSchemaHandler, SecretStr, field_validator, model_validator
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, SettingsConfigDict

from dueq.shared.redact import (
    PLACEHOLDER_PASSWORD,
    URL_SEPARATOR,
    normalize_url,
    placeholder_password,
    redact_url,
)
from dueq.shared.signing import Signer
from dueq.shared.topology import DEFAULT_PREFIX, QueueType, Topology, validate_name

__all__ = [
    "DEFAULT_BROKER_URL",
    "DEFAULT_DATABASE_URL",
    "DueqSettings",
    "ServiceUrl",
]

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_DATABASE_URL = "sqlite:///dueq.sqlite3"


class ServiceUrl:
    """A connection URL whose ``str`` and ``repr`` hide the password.

    Call ``reveal()`` only where the URL is handed to a client library.
    """

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url

    def reveal(self) -> str:
        """The URL with its password, for the client library and nothing else."""
        return self._url

    def __str__(self) -> str:
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"ServiceUrl({redact_url(self._url)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServiceUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            cls._coerce,
            core_schema.is_instance_schema(cls),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def _coerce(cls, value: object) -> object:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            # Several broker nodes given as a list: kombu's failover form, "n1;n2;n3".
            value = URL_SEPARATOR.join(v.strip() for v in value)
        if isinstance(value, str):
            if not value.strip(URL_SEPARATOR + " "):
                raise ValueError("URL must not be empty")
            return cls(normalize_url(value.strip()))
        return value


class DueqSettings(BaseSettings):
    """What scheduler, worker and CLI all need: where the services are and the names."""

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_prefix="DUEQ_", frozen=True, extra="forbid"
    )

    broker_url: ServiceUrl = ServiceUrl(DEFAULT_BROKER_URL)
    database_url: ServiceUrl = ServiceUrl(DEFAULT_DATABASE_URL)
    prefix: str = DEFAULT_PREFIX
    queue_type: QueueType = QueueType.QUORUM
    # Prometheus metrics on http://metrics_host:metrics_port/metrics; off when None.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Loopback unless told otherwise: a metrics port is no place to be found by accident.
    metrics_host: str = "127.0.0.1"
    # One series per job id: only where configuration bounds the number of jobs.
    metrics_job_labels: bool = False
    # HMAC key for signing and verifying every message (docs/security.md); off when unset.
    signing_key: SecretStr | None = None
    # Earlier keys still accepted when verifying, so keys can rotate without a stop.
    signing_old_keys: tuple[SecretStr, ...] = ()
    # PostgreSQL schema holding dueq's tables, for teams sharing one database (None: the
    # connection's default search_path, usually "public").
    database_schema: str | None = None

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        return validate_name("prefix", value)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port_is_off(cls, value: object) -> object:
        # DUEQ_METRICS_PORT= (empty, as compose leaves it by default) means no metrics.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _no_placeholder_passwords(self) -> DueqSettings:
        for url in (self.broker_url, self.database_url):
            # The worker's database URL is optional.
            if url is not None and placeholder_password(url.reveal()):
                raise ValueError(
                    f"{url} still has the placeholder password {PLACEHOLDER_PASSWORD!r}; "
                    "set a real one"
                )
        self.signer()  # a short or placeholder signing key fails here, at start-up
        return self

    def signer(self) -> Signer | None:
        """Signs and verifies messages with ``signing_key``; None when signing is off.

        Raises ``ConfigError`` for a short or placeholder key.
        """
        if self.signing_key is None:
            return None
        old = [key.get_secret_value() for key in self.signing_old_keys]
        return Signer(self.signing_key.get_secret_value(), old)

    def topology(self) -> Topology:
        """The broker layout these settings describe."""
        queue_type = self.queue_type
        if self.broker_url.reveal().startswith("memory://"):
            queue_type = QueueType.CLASSIC  # the memory transport knows no queue types
        return Topology(prefix=self.prefix, queue_type=queue_type)
