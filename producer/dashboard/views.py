"""What the dashboard's pages show, read from the same store and history as the CLI.

Plain values for the templates; no web framework here.  Every text that comes from a job
or a worker (arguments, return values, errors, tracebacks) passes through
``redact_text``, so a URL with a password in it is shown with ``***`` instead.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from dueq.producer.cli.output import format_duration, format_time, short
from dueq.producer.cli.workers import worker_state
from dueq.producer.deadletters import DeadLetters, DeadView
from dueq.producer.history import RunRecord, RunStatus
from dueq.producer.job import Job
from dueq.producer.scheduler import Scheduler
from dueq.shared.redact import redact_text

__all__ = ["Dashboard", "JobRow", "RunFilter", "RunRow", "WorkerRow"]

# Runs read per page: enough to scroll, few enough to render at once.
RUNS_PER_PAGE = 200
# Next fire times listed per job.
NEXT_TIMES = 3
# Job rows rendered per page: a browser table of a million rows helps nobody.
JOBS_PER_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class JobRow:
    id: str
    name: str
    func: str
    trigger: str
    queue: str
    paused: bool
    next_times: list[str]
    args: str


@dataclass(frozen=True, kw_only=True)
class RunRow:
    run_id: str
    job_id: str
    status: str
    scheduled: str
    worker: str
    lateness: str
    duration: str
    result: str
    traceback: str | None
    redelivered: bool
    attempt: int
    execution: int


@dataclass(frozen=True, kw_only=True)
class WorkerRow:
    worker_id: str
    hostname: str
    pid: int
    queues: str
    running: int
    concurrency: int
    state: str
    last_seen: str


@dataclass(frozen=True, kw_only=True)
class RunFilter:
    """The runs page's filters: a job, statuses, and a window of scheduled times."""

    job_id: str | None = None
    statuses: tuple[RunStatus, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


class Dashboard:
    """Reads and changes for the pages, through a scheduler client and the dead letters."""

    def __init__(
        self,
        scheduler: Scheduler,
        dead_letters: DeadLetters,
        *,
        heartbeat: timedelta = timedelta(seconds=10),
    ) -> None:
        self.scheduler = scheduler
        self.dead_letters = dead_letters
        self._heartbeat = heartbeat

    @property
    def zone(self) -> tzinfo:
        """The zone times are shown in (the scheduler's)."""
        return self.scheduler.settings.zone

    def jobs(self, now: datetime | None = None) -> tuple[list[JobRow], int]:
        """The soonest ``JOBS_PER_PAGE`` jobs with their next fire times (paused ones
        last), and how many jobs there are in all."""
        now = now or datetime.now(UTC)
        jobs = self.scheduler.get_jobs()
        return [self._job_row(job, now) for job in jobs[:JOBS_PER_PAGE]], len(jobs)

    def _job_row(self, job: Job, now: datetime) -> JobRow:
        times: list[datetime] = []
        if job.next_run_time is not None:
            times.append(job.next_run_time)  # jitter included: when it will really run
            fire: datetime | None = job.next_fire_time or job.next_run_time
            while len(times) < NEXT_TIMES and fire is not None:
                fire = job.trigger.get_next_fire_time(fire, now)
                if fire is not None:
                    times.append(fire)
        return JobRow(
            id=job.id,
            name=job.name,
            func=job.func,
            trigger=str(job.trigger),
            queue=job.queue,
            paused=job.paused,
            next_times=[format_time(t, self.zone) for t in times],
            args=redact_text(short(f"{list(job.args)!r} {dict(job.kwargs)!r}", 120)),
        )

    def runs(self, chosen: RunFilter) -> list[RunRow]:
        """Runs matching ``chosen``, newest scheduled first."""
        records = self.scheduler.history.get_runs(
            chosen.job_id,
            RUNS_PER_PAGE,
            statuses=chosen.statuses or None,
            since=chosen.since,
            until=chosen.until,
        )
        return [self._run_row(r) for r in records]

    def executions(self, run_id: str) -> list[RunRow]:
        """Every execution of one run, oldest first, tracebacks included (empty: unknown)."""
        return [self._run_row(r) for r in self.scheduler.history.get_executions(run_id)]

    def _run_row(self, record: RunRecord) -> RunRow:
        return RunRow(
            run_id=record.run_id,
            job_id=record.job_id,
            status=record.status.value,
            scheduled=format_time(record.scheduled_at, self.zone),
            worker=record.worker_id or "-",
            lateness=format_duration(record.lateness_s),
            duration=format_duration(record.duration_s),
            result=redact_text(_result(record)),
            traceback=redact_text(record.traceback) if record.traceback else None,
            redelivered=record.redelivered,
            attempt=record.attempt,
            execution=record.execution,
        )

    def workers(self, now: datetime | None = None, *, show_all: bool = True) -> list[WorkerRow]:
        """Workers heard of: live, lost (silent for three heartbeats) or offline."""
        now = now or datetime.now(UTC)
        rows = []
        for record in self.scheduler.history.get_workers():
            state = worker_state(record, now, self._heartbeat)
            if show_all or state == "live":
                rows.append(
                    WorkerRow(
                        worker_id=record.worker_id,
                        hostname=record.hostname,
                        pid=record.pid,
                        queues=", ".join(record.queues),
                        running=record.running,
                        concurrency=record.concurrency,
                        state=state,
                        last_seen=format_time(record.last_seen_at, self.zone),
                    )
                )
        return rows

    def dead(self, limit: int = 200) -> list[DeadView]:
        """Dead letters, oldest first (redacted like everything else shown)."""
        return [_redacted(view) for view in self.dead_letters.list(limit)]


def _result(record: RunRecord) -> str:
    if record.exception_type:
        return short(f"{record.exception_type}: {record.exception_message or ''}")
    if record.exception_message:  # a rejection's reason, why a run was missed or lost
        prefix = "rejected: " if record.status is RunStatus.REJECTED else ""
        return short(prefix + record.exception_message)
    if record.status is RunStatus.EXECUTED:
        return short(repr(record.retval))
    return ""


def _redacted(view: DeadView) -> DeadView:
    return DeadView(
        key=view.key,
        position=view.position,
        size=view.size,
        reason=redact_text(view.reason),
        source_queue=view.source_queue,
        dead_at=view.dead_at,
        job_id=view.job_id,
        body_text=redact_text(view.body_text),
        headers={k: redact_text(v) for k, v in view.headers.items()},
    )


def parse_statuses(values: Collection[str]) -> tuple[RunStatus, ...]:
    """Known statuses among ``values`` (unknown ones are ignored, not an error page)."""
    known = {status.value: status for status in RunStatus}
    return tuple(known[v] for v in values if v in known)
