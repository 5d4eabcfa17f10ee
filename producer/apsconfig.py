"""APScheduler 3's configuration forms, turned into dueq's settings options.

APScheduler is configured with ``jobstores``, ``executors``, ``job_defaults`` and
``timezone``, as keyword arguments, as a ``gconfig`` dict whose keys may be
``'apscheduler.'``-prefixed and dotted (``'apscheduler.job_defaults.coalesce': 'false'``),
with job stores and executors given as objects or as ``{'type': ..., ...}`` dicts.  This
module reads every one of those forms:

* a job store becomes ``database_url``: ``{'type': 'sqlalchemy', 'url': ...}``, a
  ``SQLAlchemyJobStore(url=...)`` (or ``engine=...``) object, or ``'memory'`` (dueq's
  in-process store).  dueq keeps every job in one database, so all aliases must agree;
* an executor is validated and otherwise dropped: executors run on the workers, and an
  executor alias given to ``add_job(executor=...)`` names the job's queue;
* what dueq cannot honour (a MongoDB, Redis, ... store; a gevent, tornado, twisted
  executor) is refused with one line that says what to use instead.

Objects are recognised by their class name, so APScheduler need not be installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dueq.shared.errors import ConfigError

__all__ = ["EXECUTOR_KINDS", "check_executor", "nest_gconfig", "store_url", "translate_options"]

# The executor types dueq's workers have (``dueq worker --executor``), by APScheduler name.
EXECUTOR_KINDS = {
    "threadpool": "thread",
    "processpool": "process",
    "asyncio": "asyncio",
    "debug": "thread",
}
_EXECUTOR_CLASSES = {
    "ThreadPoolExecutor": "threadpool",
    "ProcessPoolExecutor": "processpool",
    "AsyncIOExecutor": "asyncio",
    "DebugExecutor": "debug",
    "GeventExecutor": "gevent",
    "TornadoExecutor": "tornado",
    "TwistedExecutor": "twisted",
}
_STORE_CLASSES = {
    "SQLAlchemyJobStore": "sqlalchemy",
    "MemoryJobStore": "memory",
    "MongoDBJobStore": "mongodb",
    "RedisJobStore": "redis",
    "RethinkDBJobStore": "rethinkdb",
    "ZooKeeperJobStore": "zookeeper",
    "EtcdJobStore": "etcd",
}
_MEMORY_URL = "memory://"
# APScheduler options with no meaning here: dueq retries the store with backoff, logs
# through the standard ``dueq`` loggers, and its background threads are always daemons.
_IGNORED = ("jobstore_retry_interval", "logger", "daemon")
# Prefixes of flat gconfig keys ("apscheduler.timezone").
_PREFIXES = ("apscheduler.", "dueq.")


def nest_gconfig(gconfig: Mapping[str, Any], prefix: str = "apscheduler.") -> dict[str, Any]:
    """``{'apscheduler.jobstores.default.url': u}`` -> ``{'jobstores': {'default': {...}}}``.

    Keys with ``prefix`` (or ``dueq.``) lose it; keys without one are taken as they are.
    """
    nested: dict[str, Any] = {}
    for raw_key, value in gconfig.items():
        key = str(raw_key)
        for known in (prefix, *_PREFIXES):
            if known and key.startswith(known):
                key = key[len(known) :]
                break
        *parents, last = key.split(".")
        target = nested
        for part in parents:
            target = target.setdefault(part, {})
        if isinstance(value, Mapping) and isinstance(target.get(last), dict):
            target[last] = {**target[last], **value}
        else:
            target[last] = dict(value) if isinstance(value, Mapping) else value
    return nested


def translate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """dueq settings options from APScheduler-style ones (other options pass through)."""
    result = {key: value for key, value in options.items() if key not in _IGNORED}
    stores = result.pop("jobstores", None)
    executors = result.pop("executors", None)
    if stores is not None:
        url = _database_url(stores)
        given = result.get("database_url")
        if url is not None and given is not None and str(given) != url:
            raise ConfigError(
                "database_url and jobstores name different databases; give one of them"
            )
        if url is not None:
            result["database_url"] = url
    if executors is not None:
        _check_executors(executors)
    return result


def _database_url(stores: Any) -> str | None:
    if not isinstance(stores, Mapping):
        raise ConfigError("jobstores must be a dict of alias -> job store")
    urls = {alias: store_url(alias, store) for alias, store in stores.items()}
    distinct = set(urls.values())
    if len(distinct) > 1:
        raise ConfigError(
            "dueq keeps every job in one database, but jobstores name "
            f"{len(distinct)} ({', '.join(sorted(urls))}); give them one URL"
        )
    return distinct.pop() if distinct else None


def store_url(alias: str, store: Any) -> str:
    """The database URL of one APScheduler job store, or a one-line ``ConfigError``."""
    kind, settings = _describe(store, _STORE_CLASSES, "job store")
    if kind == "memory":
        return _MEMORY_URL
    if kind != "sqlalchemy":
        raise ConfigError(
            f"job store {alias!r} of type {kind!r} is not supported: dueq keeps jobs in SQL; "
            "use {'type': 'sqlalchemy', 'url': 'postgresql+psycopg://...'} (or sqlite:///...)"
        )
    url = settings.get("url")
    engine = settings.get("engine")
    if url is None and engine is not None:
        url = engine.url.render_as_string(hide_password=False)
    if not isinstance(url, str) or not url:
        raise ConfigError(f"job store {alias!r} needs a 'url' (or an 'engine')")
    return url


def _check_executors(executors: Any) -> None:
    if not isinstance(executors, Mapping):
        raise ConfigError("executors must be a dict of alias -> executor")
    for alias, executor in executors.items():
        check_executor(alias, executor)


def check_executor(alias: str, executor: Any) -> None:
    """Refuse an executor type dueq's workers do not have, naming what to use instead."""
    kind, _settings = _describe(executor, _EXECUTOR_CLASSES, "executor")
    if kind not in EXECUTOR_KINDS:
        raise ConfigError(
            f"executor {alias!r} of type {kind!r} is not supported: dueq jobs run on "
            "workers; use 'threadpool', 'processpool' or 'asyncio' and start workers "
            f"with --queue {alias} --executor thread|process|asyncio"
        )


def _describe(value: Any, classes: Mapping[str, str], what: str) -> tuple[str, dict[str, Any]]:
    """``(type name, settings)`` of an APScheduler plugin given as a dict or an object."""
    if isinstance(value, str):
        return value.strip().lower(), {}
    if isinstance(value, Mapping):
        settings = dict(value)
        kind = settings.pop("type", None)
        class_ref = settings.pop("class", None)
        if kind is None and isinstance(class_ref, str):
            kind = classes.get(class_ref.replace(":", ".").rsplit(".", 1)[-1])
        if not isinstance(kind, str):
            raise ConfigError(f"{what} {value!r} needs a 'type' (or an APScheduler 'class')")
        return kind.strip().lower(), settings
    kind = classes.get(type(value).__name__)
    if kind is None:
        raise ConfigError(f"unknown {what} {value!r}: give a dict with a 'type'")
    settings = {name: getattr(value, name) for name in ("url", "engine") if hasattr(value, name)}
    return kind, settings
