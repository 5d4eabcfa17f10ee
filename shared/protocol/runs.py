"""RunRequest: one due run-time of one job, sent from the scheduler to the workers."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, model_validator

from dueq.shared.protocol.control import MAX_ATTEMPTS, Overlap, RetryPolicy, attempt_suffix
from dueq.shared.protocol.types import (
    FuncRef,
    Identifier,
    JsonArgs,
    JsonKwargs,
    ProtocolModel,
    QueueName,
    UtcDatetime,
    format_utc,
)

__all__ = [
    "ARGUMENTS_CHECKED",
    "MAX_ARGUMENTS_BYTES",
    "RUN_ID_NAMESPACE",
    "RunRequest",
    "arguments_size",
    "make_run_id",
]

# args and kwargs together, as compact JSON. Runs carry references to data, not the data:
# 64 KiB keeps a burst of 100k runs within what the broker holds comfortably in memory.
MAX_ARGUMENTS_BYTES = 64 * 1024

# Validation context for a sender whose arguments were already measured against
# ``MAX_ARGUMENTS_BYTES`` (the scheduler checks when a job is added): skips measuring them
# again for every run.  Everything else is validated as usual; decoding never passes it.
ARGUMENTS_CHECKED: Mapping[str, bool] = MappingProxyType({"arguments_checked": True})

# Fixed namespace for run ids (uuid5). Changing it would change every run id ever issued,
# breaking deduplication across an upgrade, so it is part of protocol version 1.
RUN_ID_NAMESPACE = uuid.UUID("6f1c7a52-3c1e-4d7e-9a57-2f0d1b9e8c11")
_NAMESPACE_BYTES = RUN_ID_NAMESPACE.bytes


def arguments_size(args: object, kwargs: object) -> int:
    """Bytes ``args`` and ``kwargs`` take together as compact UTF-8 JSON (the limit's unit).

    Raises ``ValueError`` for NaN or Infinity: they are not JSON, and a consumer in another
    language could not read them.
    """
    encoded = json.dumps([args, kwargs], separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(encoded.encode())


def make_run_id(job_id: str, scheduled_at: datetime, attempt: int = 1) -> str:
    """The run id of ``job_id`` at ``scheduled_at``: the same inputs always give the same id.

    A scheduler that crashes after publishing but before committing republishes the run
    with the same id, which is how workers recognise and drop the duplicate.  A retry
    (``attempt`` > 1) gets an id of its own, equally deterministic.
    """
    # ``str(uuid.uuid5(RUN_ID_NAMESPACE, name))`` spelled out: building the UUID object
    # was half the cost, and the scheduler makes one id per run (10k in a burst).
    stamp = format_utc(scheduled_at) if attempt == 1 else attempt_suffix(scheduled_at, attempt)
    name = f"{job_id}\n{stamp}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RunRequest(ProtocolModel):
    """Run ``func`` for ``job_id`` at ``scheduled_at``: one message per run-time.

    AMQP properties: ``message_id`` = ``correlation_id`` = ``run_id``, ``reply_to`` = the
    events queue, ``content_type`` = application/json, persistent delivery.

    Unknown top-level fields are ignored, not refused: the scheduler adds optional fields
    to protocol 1 (run control's ``coalesce`` is on every default job's runs), and a
    consumer older than a field must still run the run (docs/protocol.md, Versioning).
    """

    model_config = ConfigDict(
        **{
            **ProtocolModel.model_config,
            "extra": "ignore",
            # Said in the schema too, so a consumer validating with it ignores them alike.
            "json_schema_extra": {"additionalProperties": True},
        }
    )

    protocol: Literal[1] = 1
    run_id: Annotated[str, Field(min_length=1, max_length=64)]
    job_id: Identifier
    job_name: Identifier
    func: FuncRef
    args: JsonArgs = Field(default_factory=list)
    kwargs: JsonKwargs = Field(default_factory=dict)
    scheduled_at: UtcDatetime
    published_at: UtcDatetime
    misfire_grace_time: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="Seconds a run may start late; null means it may start however late",
    )
    max_instances: Annotated[int, Field(ge=1, le=10_000)] = 1
    queue: QueueName = "default"
    epoch: Annotated[int, Field(ge=0)] = Field(
        description="Fencing number of the scheduler lease that published this run"
    )
    # Run control (all optional; left off the wire at their defaults, see docs/run-control.md).
    attempt: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = Field(
        default=1, description="1 for the first try; n for the (n-1)th retry"
    )
    retry: RetryPolicy | None = Field(
        default=None, description="Retry a failure of this run (echoed back in job_error)"
    )
    timeout: Annotated[float, Field(gt=0, le=86_400 * 7)] | None = Field(
        default=None, description="Seconds the job may run before it is stopped"
    )
    coalesce: bool = Field(
        default=False,
        description="Run only the newest of a backlog: skip this run (job_missed, reason "
        "coalesced) if next_scheduled_at has already passed",
    )
    next_scheduled_at: UtcDatetime | None = Field(
        default=None, description="When the job's next run after this one is due"
    )
    overlap: Overlap = Field(
        default=Overlap.SKIP,
        description="What to do when the job already has max_instances runs in progress",
    )

    #: Fields added after protocol 1 shipped: omitted from the JSON at their defaults, so
    #: a run that uses none of them reads exactly as before to older consumers.
    EXTENSIONS: ClassVar[dict[str, object]] = {
        "attempt": 1,
        "retry": None,
        "timeout": None,
        "coalesce": False,
        "next_scheduled_at": None,
        "overlap": Overlap.SKIP,
    }

    @model_validator(mode="after")
    def _arguments_fit(self, info: ValidationInfo) -> RunRequest:
        if info.context is ARGUMENTS_CHECKED:
            return self
        try:
            size = arguments_size(self.args, self.kwargs)
        except ValueError:
            raise ValueError("args and kwargs must not hold NaN or Infinity") from None
        if size > MAX_ARGUMENTS_BYTES:
            raise ValueError(
                f"args and kwargs take {size} bytes as JSON; the limit is {MAX_ARGUMENTS_BYTES}"
            )
        return self
