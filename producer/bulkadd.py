"""``Scheduler.add_jobs``: adding many jobs at once, validated exactly as ``add_job`` does.

Jobs are built and written in chunks of ``CHUNK``, one store transaction each, so memory
stays bounded whatever the number of jobs.  A failing item stops the add: the chunks
before it are stored (the error names the item's index and id), nothing after it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from itertools import islice
from typing import Any

from dueq.producer.job import UNSET, Job
from dueq.producer.jobspec import OPTION_NAMES, build_job, to_trigger
from dueq.producer.settings import JobDefaults
from dueq.producer.store.base import JobStore
from dueq.shared.errors import ConfigError, ConflictingIdError, InvalidTriggerError
from dueq.shared.triggers import Trigger

__all__ = ["CHUNK", "BulkBuilder", "add_in_chunks"]

# Jobs per store transaction: large enough that per-transaction costs vanish (a 5k chunk
# takes ~0.15 s into PostgreSQL), small enough to bound memory and a rollback.
CHUNK = 5000


def add_in_chunks(
    store: JobStore,
    items: Iterable[Any],
    builder: BulkBuilder,
    *,
    replace_existing: bool,
    added: Callable[[list[Job]], None],
    chunk_size: int = CHUNK,
) -> int:
    """Build and store ``items`` chunk by chunk; ``added`` is called after each chunk."""
    numbered = enumerate(items)
    seen: set[str] = set()
    total = 0
    while chunk := list(islice(numbered, chunk_size)):
        jobs, explicit = [], set()
        for index, item in chunk:
            job, own_time = builder.build(index, item)
            if job.id in seen and not replace_existing:
                raise ConflictingIdError(job.id)
            seen.add(job.id)
            jobs.append(job)
            if own_time:
                explicit.add(job.id)
        store.add_jobs(jobs, replace_existing=replace_existing, explicit_times=explicit)
        added(jobs)
        total += len(jobs)
    return total


class BulkBuilder:
    """``build_job`` for the items of ``Scheduler.add_jobs``, building each trigger once.

    An item is a mapping of ``add_job``'s arguments (trigger arguments included).  Items
    usually share a few trigger specifications; building one validates it (a large part of
    the cost of an add), so equal specifications share one ``Trigger``.
    """

    def __init__(self, defaults: JobDefaults, zone: tzinfo, now: datetime) -> None:
        self._defaults = defaults
        self._zone = zone
        self._now = now
        self._triggers: dict[Any, Trigger] = {}

    def build(self, index: int, item: Any) -> tuple[Job, bool]:
        """The job of ``jobs[index]``, and whether it gives its own ``next_run_time``.

        Errors are add_job's, their message starting with the item's index and id.
        """
        where = f"jobs[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"{where} is a {type(item).__name__}, not a mapping of add_job's arguments"
            )
        where += f" (id {item.get('id')!r})"
        try:
            return self._build(item)
        except InvalidTriggerError as exc:
            raise InvalidTriggerError(f"{where} {exc.field}", exc.text, exc.reason) from exc
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc

    def _build(self, item: Mapping[str, Any]) -> tuple[Job, bool]:
        if "func" not in item:
            raise ConfigError("func is missing")
        if "replace_existing" in item:
            raise ConfigError("replace_existing is an argument of add_jobs, not of a job")
        options = {name: item.get(name, UNSET) for name in OPTION_NAMES}
        for name in ("id", "name", "args", "kwargs"):
            options[name] = None if options[name] is UNSET else options[name]
        trigger_args = {
            k: v for k, v in item.items() if k not in options and k not in ("func", "trigger")
        }
        trigger = self._trigger(item.get("trigger"), trigger_args)
        job = build_job(
            item["func"], trigger, options, defaults=self._defaults, zone=self._zone, now=self._now
        )
        return job, "next_run_time" in item

    def _trigger(self, trigger: Any, trigger_args: dict[str, Any]) -> Trigger:
        if isinstance(trigger, Trigger) and not trigger_args:
            return trigger
        try:
            key: Any = (trigger, tuple(sorted(trigger_args.items())))
            hash(key)
        except TypeError:  # an unhashable argument (a list of cron fields?): build it anew
            return to_trigger(trigger, trigger_args, self._zone, self._now)
        built = self._triggers.get(key)
        if built is None:
            built = self._triggers[key] = to_trigger(trigger, trigger_args, self._zone, self._now)
        return built
