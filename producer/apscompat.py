"""APScheduler 3's configuration verbs on a dueq scheduler: ``configure()``, job store and
executor aliases (``add_jobstore``, ``add_executor`` and their ``remove_*``).

dueq keeps every job in one database and runs jobs on workers, so these verbs check and
record what APScheduler code says rather than build plugins: every job store alias names
the one store, and an executor alias names a queue (``add_job(executor="processpool")``
goes to workers started with ``--queue processpool``).  See docs/migrating.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dueq.producer.apsconfig import check_executor, store_url
from dueq.producer.listeners import (
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    ListenerDispatcher,
    SchedulerEvent,
)
from dueq.producer.settings import SchedulerSettings, merge_config, settings_from
from dueq.shared.errors import ConfigError

__all__ = ["DEFAULT_JOBSTORE", "ApsCompat"]

# The job store alias every APScheduler verb defaults to; dueq has this one store.
DEFAULT_JOBSTORE = "default"


class ApsCompat:
    """Mixed into ``Scheduler``: the configuration it was given, and APScheduler's verbs
    that change it."""

    _config: dict[str, Any]
    _fixed_settings: bool
    _settings: SchedulerSettings
    _dispatcher: ListenerDispatcher

    if TYPE_CHECKING:  # provided by Lifecycle and Scheduler

        @property
        def running(self) -> bool: ...

        def _release(self) -> None: ...

    def configure(
        self, gconfig: Mapping[str, Any] | None = None, prefix: str = "apscheduler.", **options: Any
    ) -> None:
        """APScheduler's ``configure()``: change the configuration before ``start()``.

        Takes what the constructor takes and overlays it on what was given before.
        """
        if self.running:
            from dueq.producer.lifecycle import SchedulerAlreadyRunningError

            raise SchedulerAlreadyRunningError("configure() the scheduler before start()")
        if self._fixed_settings:
            raise ConfigError("this scheduler was given a SchedulerSettings object; build anew")
        config = merge_config(self._config, gconfig or {}, options, prefix)
        settings = settings_from(config)
        self._release()  # connections opened with the old URLs
        self._config, self._settings = config, settings

    def add_jobstore(self, jobstore: Any, alias: str = DEFAULT_JOBSTORE, **options: Any) -> None:
        """Name the job store ``alias``; it must be dueq's one database.

        Before ``start()`` the first store may set the database, as ``configure`` would.
        """
        store = {"type": jobstore, **options} if isinstance(jobstore, str) else jobstore
        url = store_url(alias, store)
        stores = {**self._config.get("jobstores", {}), alias: store}
        if not self.running and not self._fixed_settings:
            self.configure(jobstores=stores)
        elif url != self._settings.database_url.reveal():
            raise ConfigError(f"job store {alias!r} names another database than the running one")
        else:
            self._config["jobstores"] = stores
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_JOBSTORE_ADDED, alias=alias))

    def remove_jobstore(self, alias: str, shutdown: bool = True) -> None:
        """Forget the alias ``alias``; the one store itself cannot be removed."""
        stores = dict(self._config.get("jobstores", {}))
        if alias == DEFAULT_JOBSTORE or alias not in stores:
            raise ConfigError(f"job store {alias!r} cannot be removed: dueq has one store")
        del stores[alias]
        self._config["jobstores"] = stores
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_JOBSTORE_REMOVED, alias=alias))

    def add_executor(self, executor: Any, alias: str = "default", **options: Any) -> None:
        """Accept an executor alias: jobs sent to it go to the queue of that name."""
        check_executor(
            alias, {"type": executor, **options} if isinstance(executor, str) else executor
        )
        self._config["executors"] = {**self._config.get("executors", {}), alias: executor}
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_EXECUTOR_ADDED, alias=alias))

    def remove_executor(self, alias: str, shutdown: bool = True) -> None:
        """Forget the executor alias ``alias`` (its queue and workers are unaffected)."""
        executors = dict(self._config.get("executors", {}))
        if executors.pop(alias, None) is None:
            raise KeyError(f"no executor {alias!r}")
        self._config["executors"] = executors
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_EXECUTOR_REMOVED, alias=alias))

    def _check_jobstore(self, alias: str | None) -> None:
        """Accept APScheduler's ``jobstore=``: any alias configured names the one store."""
        if alias is None or alias == DEFAULT_JOBSTORE:
            return
        if alias not in self._config.get("jobstores", {}):
            raise ConfigError(f"no job store {alias!r}: dueq keeps every job in one, 'default'")
