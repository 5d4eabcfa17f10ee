"""Building and changing ``Job`` values from ``add_job``/``modify_job`` arguments.

Everything a user can get wrong is refused here, at the call, with a ``ConfigError`` that
names the argument: a lambda as ``func``, arguments that are not JSON, a bad queue name.
Nothing is stored until the job is valid, so a stored job can always be published.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from pydantic import ValidationError

from dueq.producer.catchup import first_slot
from dueq.producer.job import UNSET, Job, Unset
from dueq.producer.settings import JobDefaults
from dueq.shared.errors import ConfigError
from dueq.shared.funcref import func_ref, parse_func_ref
from dueq.shared.protocol import MAX_ARGUMENTS_BYTES, Overlap, RetryPolicy
from dueq.shared.topology import validate_name
from dueq.shared.triggers import Trigger, build_trigger

__all__ = [
    "MODIFIABLE",
    "OPTION_NAMES",
    "JobOptions",
    "apply_changes",
    "build_job",
    "schedule",
    "to_trigger",
]

# The protocol's limit on ids and names (Identifier).
_MAX_IDENTIFIER = 255
# The protocol's limit on max_instances (RunRequest).
_MAX_INSTANCES = 10_000
# What modify_job may change (APScheduler's list; ``id`` is the key and cannot change).
MODIFIABLE = frozenset(
    {
        "func",
        "trigger",
        "args",
        "kwargs",
        "name",
        "misfire_grace_time",
        "coalesce",
        "max_instances",
        "queue",
        "next_run_time",
        "retry",
        "timeout",
        "overlap",
    }
)

JobOptions = dict[str, Any]
# add_job's arguments besides func, trigger and the trigger's own (replace_existing is the
# whole batch's, an argument of add_jobs).
OPTION_NAMES = (
    "id", "name", "args", "kwargs", "misfire_grace_time", "coalesce", "max_instances",
    "next_run_time", "queue", "retry", "timeout", "overlap",
)  # fmt: skip


def to_trigger(
    trigger: str | Trigger | None, trigger_args: Mapping[str, Any], zone: tzinfo, now: datetime
) -> Trigger:
    """``build_trigger`` with dueq's clock: no trigger means "once, now" by *our* clock."""
    arguments = dict(trigger_args)
    if trigger is None and "run_date" not in arguments:
        arguments["run_date"] = now
    return build_trigger(trigger, default_timezone=zone, **arguments)


def schedule(
    trigger: Trigger, job_id: str, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """``(next_run_time, next_fire_time)`` of a job that starts (or resumes) at ``now``."""
    slot = first_slot(trigger, job_id, now)
    return (None, None) if slot is None else (slot.run_time, slot.fire_time)


def build_job(
    func: str | Callable[..., Any],
    trigger: Trigger,
    options: JobOptions,
    *,
    defaults: JobDefaults,
    zone: tzinfo,
    now: datetime,
) -> Job:
    """A validated ``Job``; ``options`` holds add_job's other arguments (UNSET if not given)."""
    ref = func_ref(func)
    job_id = options["id"] if options["id"] is not None else uuid.uuid4().hex
    _check_identifier("id", job_id)
    name = options["name"] if options["name"] is not None else _default_name(func, ref)
    _check_identifier("name", name)
    args, kwargs = check_arguments(options["args"], options["kwargs"])
    next_run_time = options["next_run_time"]
    if isinstance(next_run_time, Unset):
        run, fire = schedule(trigger, job_id, now)
    else:
        run = fire = _aware(next_run_time, zone)
    # One Job built with every field: dataclasses.replace costs as much as the build,
    # which counts when add_jobs builds 100k of them.
    job = Job(
        id=job_id,
        name=name,
        func=ref,
        trigger=trigger,
        args=args,
        kwargs=kwargs,
        misfire_grace_time=_pick(options["misfire_grace_time"], defaults.misfire_grace_time),
        coalesce=_pick(options["coalesce"], defaults.coalesce),
        max_instances=_pick(options["max_instances"], defaults.max_instances),
        queue=_pick(options["queue"], defaults.queue),
        retry=to_retry_policy(_pick(options.get("retry", UNSET), defaults.retry)),
        timeout=_pick(options.get("timeout", UNSET), defaults.timeout),
        overlap=_overlap(_pick(options.get("overlap", UNSET), defaults.overlap)),
        next_run_time=run,
        next_fire_time=fire,
    )
    _check_options(job)
    if isinstance(job.misfire_grace_time, int):
        job = job.replace(misfire_grace_time=float(job.misfire_grace_time))
    return job


def apply_changes(job: Job, changes: Mapping[str, Any], zone: tzinfo) -> Job:
    """``job`` with ``modify_job``'s changes applied and validated."""
    unknown = set(changes) - MODIFIABLE
    if unknown:
        raise ConfigError(f"cannot modify {', '.join(sorted(unknown))} of a job")
    values = dict(changes)
    if "func" in values:
        values["func"] = func_ref(values["func"])
    if "trigger" in values and not isinstance(values["trigger"], Trigger):
        raise ConfigError("trigger must be a Trigger; use reschedule_job to build one")
    if "args" in values or "kwargs" in values:
        values["args"], values["kwargs"] = check_arguments(
            values.get("args", job.args), values.get("kwargs", job.kwargs)
        )
    if "retry" in values:
        values["retry"] = to_retry_policy(values["retry"])
    if "overlap" in values:
        values["overlap"] = _overlap(values["overlap"])
    if "next_run_time" in values:
        at = _aware(values["next_run_time"], zone)
        values["next_run_time"] = values["next_fire_time"] = at
    changed = job.replace(**values)
    _check_identifier("name", changed.name)
    _check_options(changed)
    return changed


def check_arguments(args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``args``/``kwargs`` as a tuple and a dict, refused unless plain JSON within the limit."""
    args = () if args is None or isinstance(args, Unset) else args
    kwargs = {} if kwargs is None or isinstance(kwargs, Unset) else kwargs
    if isinstance(args, str | bytes) or not isinstance(args, list | tuple):
        raise ConfigError(f"args must be a list or tuple, not {type(args).__name__}")
    if not isinstance(kwargs, Mapping):
        raise ConfigError(f"kwargs must be a dict, not {type(kwargs).__name__}")
    for index, value in enumerate(args):
        _check_json(value, f"args[{index}]")
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise ConfigError(f"kwargs key {key!r} is not a string")
        _check_json(value, f"kwargs[{key!r}]")
    size = len(json.dumps([list(args), dict(kwargs)], separators=(",", ":")).encode())
    if size > MAX_ARGUMENTS_BYTES:
        raise ConfigError(
            f"args and kwargs take {size} bytes as JSON; the limit is {MAX_ARGUMENTS_BYTES}: "
            "pass a reference to the data (an id, a path), not the data"
        )
    return tuple(args), dict(kwargs)


def _check_json(value: Any, where: str) -> None:
    """Refuse anything that would not come back from JSON as the same value."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where} is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where} has the key {key!r}; JSON object keys are strings")
            _check_json(item, f"{where}[{key!r}]")
        return
    raise ConfigError(
        f"{where} is a {type(value).__name__}, which is not JSON-serializable: jobs get "
        "JSON arguments only (pass e.g. an ISO string instead of a datetime, an id "
        "instead of an object)"
    )


def _default_name(func: str | Callable[..., Any], ref: str) -> str:
    qualname = getattr(func, "__qualname__", None)
    if isinstance(qualname, str):
        return qualname
    _module, name = parse_func_ref(ref)
    return name


def _check_identifier(what: str, value: Any) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_IDENTIFIER:
        raise ConfigError(f"job {what} must be a string of 1 to {_MAX_IDENTIFIER} characters")


def _check_options(job: Job) -> None:
    validate_name("queue", job.queue)
    grace = job.misfire_grace_time
    if grace is not None and not (_is_number(grace) and grace >= 0):
        raise ConfigError(f"misfire_grace_time must be None or seconds >= 0, not {grace!r}")
    limit = job.max_instances
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_INSTANCES:
        raise ConfigError(f"max_instances must be an integer from 1 to 10000, not {limit!r}")
    if not isinstance(job.coalesce, bool):
        raise ConfigError(f"coalesce must be True or False, not {job.coalesce!r}")
    timeout = job.timeout
    if timeout is not None and not (_is_number(timeout) and timeout > 0):
        raise ConfigError(f"timeout must be None or seconds > 0, not {timeout!r}")


def _overlap(value: Any) -> Overlap:
    try:
        return Overlap(value)
    except ValueError:
        choices = ", ".join(o.value for o in Overlap)
        raise ConfigError(f"overlap must be one of {choices}, not {value!r}") from None


def to_retry_policy(value: Any) -> RetryPolicy | None:
    """A ``retry`` option as a policy: a ``RetryPolicy``, a dict of its fields, the number of
    attempts (``retry=3``), or None for no retries."""
    if value is None or isinstance(value, RetryPolicy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"max_attempts": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"retry must be a RetryPolicy, a dict or a number, not {value!r}")
    try:
        return RetryPolicy.model_validate(dict(value), strict=False)
    except ValidationError as exc:
        raise ConfigError(f"invalid retry policy: {exc.errors()[0]['msg']} ({value!r})") from exc


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pick(value: Any, default: Any) -> Any:
    return default if value is UNSET else value


def _aware(value: Any, zone: tzinfo) -> datetime | None:
    """A next_run_time argument as an aware datetime (naive ones are in ``zone``)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"next_run_time {value!r} is not an ISO 8601 date-time") from exc
    if not isinstance(value, datetime):
        raise ConfigError(f"next_run_time must be a datetime or None, not {type(value).__name__}")
    return value.replace(tzinfo=zone) if value.tzinfo is None else value
