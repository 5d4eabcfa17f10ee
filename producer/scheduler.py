"""The ``Scheduler`` API: APScheduler 3's verbs over dueq's shared job store.

A ``Scheduler`` that is never started is a pure client: its calls write to the store and
send a wakeup so the running scheduler (in any process) re-plans at once.  ``start()``
adds the service: the leader-elected loop publishing due runs and, while leader, the
events consumer feeding run history and listeners.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, TypeVar

from dueq.producer.apscompat import DEFAULT_JOBSTORE, ApsCompat
from dueq.producer.backend import Backend, open_backend
from dueq.producer.backfill import DEFAULT_MAX_RUNS, BackfillProgress, backfill, run_times_between
from dueq.producer.bulkadd import BulkBuilder, add_in_chunks
from dueq.producer.clock import Clock, utc_now
from dueq.producer.history.base import RunHistory
from dueq.producer.job import UNSET, Job, Unset
from dueq.producer.jobspec import apply_changes, build_job, schedule, to_trigger
from dueq.producer.lifecycle import Lifecycle
from dueq.producer.listeners import (
    EVENT_ALL,
    EVENT_ALL_JOBS_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    JobEvent,
    Listener,
    ListenerDispatcher,
    SchedulerEvent,
)
from dueq.producer.settings import SchedulerSettings, build_settings, merge_config
from dueq.producer.store.base import JobStore
from dueq.producer.wakeup import WakeupSender
from dueq.shared.errors import ConfigError, JobLookupError
from dueq.shared.protocol import Overlap, RetryPolicy
from dueq.shared.triggers import Trigger

if TYPE_CHECKING:
    from dueq.producer.loop import AfterPublish

__all__ = ["BackgroundScheduler", "BlockingScheduler", "Scheduler"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
# The executor alias meaning "the job's default queue" (any other alias names a queue).
DEFAULT_EXECUTOR = "default"
# Trigger arguments people pass to modify_job expecting a new schedule.
_TRIGGER_WORDS = frozenset(
    {"weeks", "days", "hours", "minutes", "seconds", "start_date", "end_date", "run_date",
     "year", "month", "day", "week", "day_of_week", "hour", "minute", "second", "timezone",
     "jitter", "years", "months"}
)  # fmt: skip


class Scheduler(ApsCompat, Lifecycle):
    """Schedule jobs with APScheduler's API; runs are executed by dueq workers.

    Configure with a ``SchedulerSettings``, an APScheduler-style ``gconfig`` dict (first
    argument or ``gconfig=``; ``'apscheduler.'``-prefixed keys, ``jobstores``,
    ``executors``, ``job_defaults``, ``timezone``), keyword arguments, ``configure()``
    before ``start()``, or ``DUEQ_*`` environment variables (see docs/migrating.md).
    ``clock`` and ``after_publish`` are for tests.
    """

    def __init__(
        self,
        settings: SchedulerSettings | Mapping[str, Any] | None = None,
        *,
        gconfig: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        after_publish: AfterPublish | None = None,
        **options: Any,
    ) -> None:
        if isinstance(settings, Mapping):  # APScheduler's BackgroundScheduler(gconfig)
            if gconfig is not None:
                raise ConfigError("gconfig given twice (as the first argument and by name)")
            settings, gconfig = None, settings
        self._config = merge_config({}, gconfig or {}, options)
        self._fixed_settings = settings is not None
        self._settings = build_settings(settings, gconfig, options)
        self._clock = clock or utc_now
        self._after_publish = after_publish
        self._dispatcher = ListenerDispatcher(self._settings.listener_queue_size)
        self._lock = threading.RLock()
        self._backend: Backend | None = None
        self._wakeup: WakeupSender | None = None
        super().__init__()

    @property
    def settings(self) -> SchedulerSettings:
        """The settings this scheduler runs with."""
        return self._settings

    # -- jobs ------------------------------------------------------------------------

    def add_job(
        self,
        func: str | Callable[..., Any],
        trigger: str | Trigger | None = None,
        args: list[Any] | tuple[Any, ...] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: float | Unset | None = UNSET,
        coalesce: bool | Unset = UNSET,
        max_instances: int | Unset = UNSET,
        next_run_time: Any = UNSET,
        replace_existing: bool = False,
        queue: str | Unset = UNSET,
        jobstore: str = DEFAULT_JOBSTORE,
        executor: str = DEFAULT_EXECUTOR,
        retry: RetryPolicy | Mapping[str, Any] | int | Unset | None = UNSET,
        timeout: float | Unset | None = UNSET,
        overlap: Overlap | str | Unset = UNSET,
        **trigger_args: Any,
    ) -> Job:
        """Add a job; returns it as stored.  See APScheduler's ``add_job``.

        ``func`` is a registered name, ``"module:qualname"`` or a module-level function;
        ``args``/``kwargs`` must be JSON.  ``next_run_time=None`` adds the job paused.  With
        ``replace_existing`` and an unchanged trigger the stored next run time is kept, so
        re-adding jobs at start-up keeps the catch-up of runs missed while down.
        ``executor`` (APScheduler's alias) names the queue when ``queue`` is not given.
        """
        self._check_jobstore(jobstore)
        if executor != DEFAULT_EXECUTOR and queue is UNSET:
            queue = executor
        now = self._clock()
        options = {
            "id": id, "name": name, "args": args, "kwargs": kwargs,
            "misfire_grace_time": misfire_grace_time, "coalesce": coalesce,
            "max_instances": max_instances, "next_run_time": next_run_time, "queue": queue,
            "retry": retry, "timeout": timeout, "overlap": overlap,
        }  # fmt: skip
        zone = self._settings.zone
        built = to_trigger(trigger, trigger_args, zone, now)
        job = build_job(
            func, built, options, defaults=self._settings.job_defaults, zone=zone, now=now
        )
        store = self._store()
        if replace_existing:
            existing = store.get_job(job.id)
            if existing is not None and existing.trigger == job.trigger and next_run_time is UNSET:
                job = job.replace(
                    next_run_time=existing.next_run_time, next_fire_time=existing.next_fire_time
                )
        store.add_job(job, replace_existing=replace_existing)
        if job.next_run_time is None and next_run_time is UNSET:
            logger.warning("job %s was added paused: its trigger never fires (%s)", job.id, built)
        self._changed(EVENT_JOB_ADDED, job.id)
        return self._bound(job)

    def add_jobs(self, jobs: Iterable[Mapping[str, Any]], *, replace_existing: bool = False) -> int:
        """Add many jobs at once; returns how many.  Each item holds ``add_job``'s arguments.

        ``{"func": work, "trigger": "interval", "minutes": 5, "id": "a", "args": [1]}``: each
        is validated as ``add_job`` would (an error names the item's index and id), a
        repeated id conflicts unless ``replace_existing``.  Written in chunks of 5,000, one
        transaction each: on an error the chunks before the failing item are stored.
        Listeners get one ``EVENT_JOB_ADDED`` per job, as with ``add_job``; the running
        scheduler is woken once, at the end.
        """
        settings = self._settings
        builder = BulkBuilder(settings.job_defaults, settings.zone, self._clock())
        try:
            return add_in_chunks(
                self._store(), jobs, builder, replace_existing=replace_existing,
                added=self._added,
            )  # fmt: skip
        finally:
            self._notify()

    def _added(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._dispatcher.dispatch(JobEvent(code=EVENT_JOB_ADDED, job_id=job.id))

    def scheduled_job(
        self, trigger: str | Trigger | None = None, **options: Any
    ) -> Callable[[F], F]:
        """Decorator form of ``add_job``.

        Unlike APScheduler the id defaults to the function's reference and the job is
        replaced if it exists, so importing the module again never adds a duplicate.
        """

        def decorate(func: F) -> F:
            from dueq.shared.funcref import func_ref

            options.setdefault("id", func_ref(func))
            options.setdefault("replace_existing", True)
            self.add_job(func, trigger, **options)
            return func

        return decorate

    def modify_job(self, job_id: str, jobstore: str | None = None, **changes: Any) -> Job:
        """Change attributes of a job (not its id); returns the job as changed.

        ``executor`` changes the queue.  Trigger arguments (``seconds=``, ``hour=``, ...)
        are refused with a pointer to ``reschedule_job``, which builds a new trigger.
        """
        self._check_jobstore(jobstore)
        schedule_words = sorted(_TRIGGER_WORDS & set(changes))
        if schedule_words:
            raise ConfigError(
                f"modify_job does not take trigger arguments ({', '.join(schedule_words)}): "
                f"use reschedule_job({job_id!r}, trigger=..., {schedule_words[0]}=...)"
            )
        if "executor" in changes:
            executor = changes.pop("executor")
            default = self._settings.job_defaults.queue
            changes["queue"] = default if executor == DEFAULT_EXECUTOR else executor
        job = self._require(job_id)
        changed = apply_changes(job, changes, self._settings.zone)
        self._store().update_job(changed, schedule="next_run_time" in changes)
        self._changed(EVENT_JOB_MODIFIED, job_id)
        return self._bound(changed)

    def reschedule_job(
        self,
        job_id: str,
        trigger: str | Trigger | None = None,
        jobstore: str | None = None,
        **trigger_args: Any,
    ) -> Job:
        """Give a job a new trigger; its next run time is computed from now.

        APScheduler's second parameter is ``jobstore``; APScheduler code passes ``trigger=``
        by name, which works here, and so does dueq's ``reschedule_job(id, "cron", ...)``.
        """
        self._check_jobstore(jobstore)
        job = self._require(job_id)
        now = self._clock()
        built = to_trigger(trigger, trigger_args, self._settings.zone, now)
        run, fire = schedule(built, job_id, now)
        changed = job.replace(trigger=built, next_run_time=run, next_fire_time=fire)
        self._store().update_job(changed)
        self._changed(EVENT_JOB_MODIFIED, job_id)
        return self._bound(changed)

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job:
        """Stop a job's runs until ``resume_job`` (its next run time becomes None)."""
        self._check_jobstore(jobstore)
        changed = self._require(job_id).replace(next_run_time=None, next_fire_time=None)
        self._store().update_job(changed)
        self._changed(EVENT_JOB_MODIFIED, job_id)
        return self._bound(changed)

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """Resume a paused job from now; a job whose trigger is done is removed (None)."""
        self._check_jobstore(jobstore)
        job = self._require(job_id)
        run, fire = schedule(job.trigger, job_id, self._clock())
        if run is None:
            self.remove_job(job_id)
            return None
        changed = job.replace(next_run_time=run, next_fire_time=fire)
        self._store().update_job(changed)
        self._changed(EVENT_JOB_MODIFIED, job_id)
        return self._bound(changed)

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        """Delete a job; raises ``JobLookupError`` if there is none with this id."""
        self._check_jobstore(jobstore)
        self._store().remove_job(job_id)
        self._changed(EVENT_JOB_REMOVED, job_id)

    def remove_all_jobs(self, jobstore: str | None = None) -> None:
        """Delete every job."""
        self._check_jobstore(jobstore)
        self._store().remove_all_jobs()
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_ALL_JOBS_REMOVED))
        self._notify()

    def backfill(
        self,
        job_id: str,
        start: datetime,
        end: datetime,
        *,
        max_runs: int = DEFAULT_MAX_RUNS,
        overlap: Overlap | str = Overlap.BUFFER_ALL,
        progress: Callable[[BackfillProgress], None] | None = None,
    ) -> BackfillProgress:
        """Run ``job_id`` for every run-time of its trigger from ``start`` to ``end``.

        Each run-time keeps its deterministic run id, so a repeated backfill (or one over
        times the job already ran) runs nothing twice; refuses ranges with more than
        ``max_runs`` run-times.  Naive datetimes are in the scheduler's zone.  The leader
        publishes the runs (woken now); see docs/run-control.md.
        """
        job = self._require(job_id)
        zone = self._settings.zone
        start, end = (at if at.tzinfo else at.replace(tzinfo=zone) for at in (start, end))
        times = run_times_between(job, start, end, max_runs)
        done = backfill(
            job,
            times,
            self._open().retries,
            now=self._clock(),
            overlap=Overlap(overlap),
            progress=progress,
        )
        if done.scheduled:
            self._notify()
        return done

    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """The job with this id, or None."""
        self._check_jobstore(jobstore)
        job = self._store().get_job(job_id)
        return None if job is None else self._bound(job)

    def get_jobs(self, jobstore: str | None = None, pending: bool | None = None) -> list[Job]:
        """Every job, soonest next run first, paused jobs last.

        ``pending`` is accepted for APScheduler code; dueq stores jobs at once, so no job
        is ever pending and ``pending=True`` returns none.
        """
        self._check_jobstore(jobstore)
        if pending:
            return []
        return [self._bound(job) for job in self._store().get_jobs()]

    def print_jobs(self, jobstore: str | None = None, out: IO[str] | None = None) -> None:
        """Print the jobs as APScheduler does (times in the scheduler's time zone)."""
        self._check_jobstore(jobstore)
        out = out or sys.stdout
        jobs = self.get_jobs()
        print("Jobstore default:", file=out)
        if not jobs:
            print("    No scheduled jobs", file=out)
        for job in jobs:
            print(f"    {job.describe(self._settings.zone)}", file=out)

    # -- history and listeners -------------------------------------------------------

    @property
    def history(self) -> RunHistory:
        """Run history and worker liveness, as reported by workers."""
        return self._open().history

    def add_listener(self, callback: Listener, mask: int = EVENT_ALL) -> None:
        """Call ``callback(event)`` (on a listener thread) for events matching ``mask``."""
        self._dispatcher.add_listener(callback, mask)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback``."""
        self._dispatcher.remove_listener(callback)

    # -- plumbing --------------------------------------------------------------------

    def _bound(self, job: Job) -> Job:
        """``job`` able to call back (``job.modify()``, ``job.pause()``, ...)."""
        return job.replace(scheduler=self)

    def _require(self, job_id: str) -> Job:
        job = self._store().get_job(job_id)
        if job is None:
            raise JobLookupError(job_id)
        return job

    def _store(self) -> JobStore:
        return self._open().store

    def _open(self) -> Backend:
        """The stores, opened (and the schema upgraded) on first use."""
        with self._lock:
            if self._backend is None:
                self._backend = open_backend(
                    self._settings.database_url.reveal(),
                    self._clock,
                    schema=self._settings.database_schema,
                )
            return self._backend

    def _changed(self, code: int, job_id: str) -> None:
        self._dispatcher.dispatch(JobEvent(code=code, job_id=job_id))
        self._notify()

    def _notify(self) -> None:
        """Wake this process's loop and, through the broker, every other scheduler."""
        self._wake_local()
        with self._lock:
            if self._wakeup is None:
                self._wakeup = WakeupSender(
                    self._settings.broker_url.reveal(),
                    self._settings.topology(),
                    name=f"dueq-client {self._settings.scheduler_id}",
                )
            sender = self._wakeup
        sender.send()

    def _release(self) -> None:
        with self._lock:
            wakeup, self._wakeup = self._wakeup, None
            backend, self._backend = self._backend, None
        if wakeup is not None:
            wakeup.close()
        if backend is not None:
            backend.close()


class BackgroundScheduler(Scheduler):
    """``start()`` runs the scheduler in background threads and returns at once."""


class BlockingScheduler(Scheduler):
    """``start()`` runs the scheduler until ``shutdown()`` (or SIGINT/SIGTERM in the CLI)."""

    def start(self, paused: bool = False) -> None:
        super().start(paused=paused)
        try:
            self.wait_for_shutdown()
        finally:  # shutdown() from a signal handler, or KeyboardInterrupt: finish cleanly
            self.shutdown()
