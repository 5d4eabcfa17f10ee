"""The scheduler's settings: one frozen object read at the edge and passed down.

Built from keyword arguments, an APScheduler-style dict or ``DUEQ_*`` environment variables
(nested fields with ``__``: ``DUEQ_JOB_DEFAULTS__COALESCE=false``).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from dueq.producer.apsconfig import nest_gconfig, translate_options
from dueq.shared.errors import ConfigError, InvalidTriggerError
from dueq.shared.localzone import local_zone_name
from dueq.shared.protocol import Overlap, RetryPolicy
from dueq.shared.settings import DueqSettings
from dueq.shared.topology import DEFAULT_QUEUE, validate_name
from dueq.shared.triggers.zones import zone_name

__all__ = [
    "JobDefaults",
    "SchedulerSettings",
    "build_settings",
    "default_scheduler_id",
    "merge_config",
    "settings_from",
]

# The wire protocol caps max_instances at this many (RunRequest.max_instances).
_MAX_INSTANCES_LIMIT = 10_000


def default_scheduler_id() -> str:
    """``host-pid-random``: unique per process, readable in the leader table and logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class JobDefaults(BaseModel):
    """Values a job gets for the options ``add_job`` was not given.

    The defaults differ from APScheduler 3 on purpose: run late rather than silently never
    (no grace limit), one catch-up run after downtime, one instance at a time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    misfire_grace_time: Annotated[float, Field(ge=0)] | None = None
    coalesce: bool = True
    max_instances: Annotated[int, Field(ge=1, le=_MAX_INSTANCES_LIMIT)] = 1
    queue: str = DEFAULT_QUEUE
    retry: RetryPolicy | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    overlap: Overlap = Overlap.SKIP

    @field_validator("queue")
    @classmethod
    def _valid_queue(cls, value: str) -> str:
        return validate_name("queue", value)

    @field_validator("retry", mode="before")
    @classmethod
    def _attempts(cls, value: Any) -> Any:
        """``retry=3`` means up to three attempts with the policy's other defaults."""
        if isinstance(value, int) and not isinstance(value, bool):
            return {"max_attempts": value}
        return value


class SchedulerSettings(DueqSettings):
    """Everything the scheduler service and the ``Scheduler`` API are configured with."""

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_prefix="DUEQ_", frozen=True, extra="forbid", env_nested_delimiter="__"
    )

    # Zone that naive datetimes and triggers without their own zone are read in: the local
    # zone of this process by default, as in APScheduler 3 (stored by name with each job).
    timezone: str = Field(default_factory=local_zone_name)
    # Holder name in the leader lease; must differ between processes.
    scheduler_id: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        default_factory=default_scheduler_id
    )
    # A dead leader is replaced within this time; the leader renews every third of it.
    lease_seconds: Annotated[float, Field(gt=0)] = 15.0
    # Due jobs fetched, published and committed per transaction, when the loop is not in a
    # burst.  The first runs of a burst wait for their whole batch to be planned, so it
    # stays small; while batches come back full the loop makes each one 4x the last, up
    # to 16x this (producer.loop): per-tick round trips then weigh little.
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 500
    # Runs due within this many seconds are published now, and workers hold each until its
    # scheduled_at: the publish, confirm and delivery happen before the instant instead of
    # after it (docs/dispatch.md).  A quarter second covers a loaded tick and a batch's
    # confirms; it is also how long before its instant a run counts as submitted, so a
    # pause or removal no longer recalls it.  0 publishes runs only once they are due; the
    # cap stays well below the 10 s a worker holds a run at most (worker.hold).
    lookahead_seconds: Annotated[float, Field(ge=0, le=5.0)] = 0.25
    # Run history older than this (by scheduled_at) is deleted by the leader, in small
    # batches (producer.retention).  A week answers "what happened last weekend" while
    # bounding the table (at 1,000 runs/s a day is 86 million rows).
    history_retention: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(days=7)
    # Most missed run-times enumerated per job after downtime (see producer.catchup).
    max_catchup_runs: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    # The loop re-plans at least this often even if no wakeup arrives (a lost wakeup costs
    # at most this much delay).
    max_sleep_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Events waiting for listeners; beyond this they are dropped with a warning rather than
    # stalling the loop or the events consumer.
    listener_queue_size: Annotated[int, Field(ge=1)] = 10_000
    # Unacknowledged events the events consumer holds at once: the most it records in one
    # transaction (producer.events closes a batch earlier after a quiet 10 ms or at 100 ms).
    events_prefetch: Annotated[int, Field(ge=1, le=10_000)] = 500
    job_defaults: JobDefaults = JobDefaults()

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone_by_name(cls, value: Any) -> Any:
        """pytz zones, ``ZoneInfo`` and whole-hour ``datetime.timezone`` become names."""
        if isinstance(value, str):
            return value
        try:
            return zone_name(value)
        except InvalidTriggerError as exc:
            raise ValueError(exc.reason) from exc

    @field_validator("history_retention", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        # DUEQ_HISTORY_RETENTION=86400 means a day in seconds, as the worker's durations do.
        if isinstance(value, str) and value.replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


def build_settings(
    settings: SchedulerSettings | None,
    gconfig: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> SchedulerSettings:
    """Merge the three ways of configuring a ``Scheduler`` into one settings object.

    A ready ``settings`` object is taken as it is; otherwise ``gconfig`` (APScheduler-style,
    flat dotted keys allowed) is overlaid by ``options``, and the environment fills the rest.
    """
    if settings is not None:
        if gconfig or options:
            raise ConfigError("pass either a SchedulerSettings object or options, not both")
        return settings
    return settings_from(merge_config({}, gconfig or {}, options))


def merge_config(
    base: Mapping[str, Any],
    gconfig: Mapping[str, Any],
    options: Mapping[str, Any],
    prefix: str = "apscheduler.",
) -> dict[str, Any]:
    """``base`` overlaid by ``gconfig`` (nested, prefix removed), then by ``options``.

    ``job_defaults`` are merged key by key, as APScheduler's ``configure()`` does.
    """
    merged = dict(base)
    for layer in (nest_gconfig(gconfig, prefix), options):
        for key, value in layer.items():
            if key == "job_defaults" and isinstance(value, Mapping):
                merged["job_defaults"] = {**merged.get("job_defaults", {}), **value}
            else:
                merged[key] = value
    return merged


def settings_from(config: Mapping[str, Any]) -> SchedulerSettings:
    """Settings from a merged configuration (APScheduler's forms translated)."""
    try:
        return SchedulerSettings(**translate_options(config))
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        parts.append(f"{where}: {error['msg']}")
    return "invalid scheduler settings: " + "; ".join(parts)
