"""The ledger: what should have happened, and four independent records of what did.

1. *Expected*: every run-time a job's trigger produces in the test window, computed here
   from the trigger itself (``shared.triggers``), with the run id the protocol derives.
2. *Published*: every RunRequest the scheduler got confirmed, seen by a tap queue bound to
   the runs exchange with the jobs' routing key (``RabbitTap``), with its arrival time.
3. *Reported*: the run history the scheduler's events consumer wrote from the workers'
   events (``dueq_runs``): missed and max_instances outcomes come from here.
4. *Executed*: the rows the job function itself wrote (``fault_jobs``), one per
   execution, with the worker's pid and start and end times.

``Tally`` compares them and says, in numbers, whether a run was lost or ran twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa

from dueq.shared.db import create_engine, upgrade_schema
from dueq.shared.protocol import RunRequest, make_run_id
from dueq.shared.tables import claims, jobs, runs
from dueq.shared.triggers import Trigger
from tests.faults.fault_jobs import LEDGER_TABLE, create_ledger_table, psycopg_url

__all__ = ["Execution", "Ledger", "Tally", "expected_runs"]
# Trigger steps walked at most per job: a guard against a window set up wrong.
_MAX_RUN_TIMES = 100_000


def expected_runs(job_id: str, trigger: Trigger, now: datetime) -> dict[str, datetime]:
    """Every run-time ``trigger`` produces (it must have an end), keyed by run id.

    ``now`` is when the job was added: the first run-time is the trigger's first fire time
    at or after it, as APScheduler computes it.
    """
    expected: dict[str, datetime] = {}
    fire = trigger.get_next_fire_time(None, now)
    while fire is not None:
        expected[make_run_id(job_id, fire)] = fire
        if len(expected) > _MAX_RUN_TIMES:
            raise AssertionError(f"the trigger of {job_id} has no end in sight")
        fire = trigger.get_next_fire_time(fire, fire)
    return expected


@dataclass(frozen=True)
class Execution:
    """One execution of the fault job, as the job recorded it."""

    run_id: str
    job_id: str
    pid: int
    started_at: float
    finished_at: float | None
    scheduled_at: datetime


class Ledger:
    """Reads the test's PostgreSQL schema: executions, run history, jobs and claims.

    ``store_url``: where dueq's own tables are, when not beside the executions (a test
    that crashes dueq's database keeps its evidence on the suite's PostgreSQL).
    """

    def __init__(self, url: str, *, store_url: str | None = None) -> None:
        self.url = url
        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            create_ledger_table(conn)
        self._ledger = create_engine(url)
        self._engine = self._ledger if store_url is None else create_engine(store_url)
        upgrade_schema(self._engine)  # dueq's tables exist before any process starts

    def close(self) -> None:
        """Release the connections."""
        self._engine.dispose()
        self._ledger.dispose()

    def executions(self) -> list[Execution]:
        """Every execution recorded so far, in start order."""
        query = sa.text(
            f"SELECT run_id, job_id, pid, started_at, finished_at, scheduled_at FROM {LEDGER_TABLE}"
            " ORDER BY started_at"
        )
        with self._ledger.connect() as conn:
            return [Execution(*row) for row in conn.execute(query)]

    def statuses(self) -> dict[str, str]:
        """run id -> status of its newest execution in the run history (``dueq_runs``)."""
        query = sa.select(runs.c.run_id, runs.c.status).order_by(runs.c.execution)
        with self._engine.connect() as conn:
            return {r.run_id: r.status for r in conn.execute(query)}

    def history(self, run_id: str) -> dict[str, Any] | None:
        """The run history row of ``run_id``'s newest execution, or None."""
        rows = self.history_rows(run_id)
        return rows[-1] if rows else None

    def history_rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every run history row of ``run_id``: one per execution, oldest first."""
        query = sa.select(runs).where(runs.c.run_id == run_id).order_by(runs.c.execution)
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def jobs_left(self) -> int:
        """Jobs still in the store (a job whose trigger ended is removed after its last run)."""
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one())

    def next_run_times(self) -> dict[str, datetime | None]:
        """job id -> the next run time the store committed (earlier ones were published)."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(jobs.c.id, jobs.c.next_run_time))
            return {row.id: row.next_run_time for row in rows}

    def claim(self, run_id: str) -> dict[str, Any] | None:
        """The fleet's claim row of ``run_id`` (holder, lease, status), or None."""
        query = sa.select(claims).where(claims.c.run_id == run_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
            return dict(row._mapping) if row is not None else None

    def running_claims(self) -> int:
        """Claims in state running (a run executing somewhere, or an unreaped dead one)."""
        query = sa.select(sa.func.count()).where(claims.c.status == "running")
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def tally(
        self,
        expected: dict[str, datetime],
        *,
        published: Iterable[RunRequest] = (),
        killed_pids: Iterable[int] = (),
    ) -> Tally:
        """Compare expected run-times with what was executed and reported."""
        return Tally.build(
            expected,
            self.executions(),
            self.statuses(),
            published=list(published),
            killed_pids=set(killed_pids),
        )

    def settled(self, expected: dict[str, datetime], killed_pids: Iterable[int] = ()) -> bool:
        """True once every expected run-time was executed or reported not run."""
        tally = self.tally(expected, killed_pids=killed_pids)
        return not tally.lost and not tally.unfinished


@dataclass
class Tally:
    """The counts a fault test checks (``line()``) and asserts (``assert_no_loss...``)."""

    expected: int
    executed_once: int = 0
    missed: int = 0
    max_instances: int = 0
    interrupted: int = 0
    published: int = 0
    republished: int = 0
    lost: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        expected: dict[str, datetime],
        executions: list[Execution],
        statuses: dict[str, str],
        *,
        published: list[RunRequest],
        killed_pids: set[int],
    ) -> Tally:
        """Classify every expected run-time; see the field names."""
        tally = cls(expected=len(expected))
        counted: Counter[str] = Counter()
        running: set[str] = set()
        for execution in executions:
            if execution.finished_at is None:
                if execution.pid in killed_pids:
                    tally.interrupted += 1  # cut short by a kill: not an execution
                    continue
                running.add(execution.run_id)
            counted[execution.run_id] += 1
        for run_id in expected:
            if counted[run_id] == 1:
                tally.executed_once += 1
                if run_id in running:
                    tally.unfinished.append(run_id)
            elif counted[run_id] > 1:
                tally.duplicates[run_id] = counted[run_id]
            elif statuses.get(run_id) == "missed":
                tally.missed += 1
            elif statuses.get(run_id) == "max_instances":
                tally.max_instances += 1
            else:
                tally.lost.append(run_id)
        tally.unexpected = sorted(set(counted) - set(expected))
        published_ids = Counter(run.run_id for run in published)
        tally.published = len(published_ids)
        tally.republished = sum(1 for n in published_ids.values() if n > 1)
        return tally

    def line(self) -> str:
        """The counts, for the test's output."""
        return (
            f"expected {self.expected} run-times: executed once {self.executed_once}, "
            f"reported missed {self.missed}, reported max_instances {self.max_instances}, "
            f"lost {len(self.lost)}, executed twice {len(self.duplicates)}, "
            f"unexpected {len(self.unexpected)}; interrupted by kills {self.interrupted}; "
            f"published {self.published} distinct run ids ({self.republished} more than once)"
        )

    def assert_nothing_lost_or_doubled(self) -> None:
        """Every expected run-time executed exactly once or reported not run; nothing else."""
        assert not self.duplicates, f"run ids executed more than once: {self.duplicates}"
        assert not self.lost, f"{len(self.lost)} run-times lost: {self.lost[:10]}"
        assert not self.unexpected, f"executions of unknown run ids: {self.unexpected[:10]}"
        assert not self.unfinished, f"executions never finished: {self.unfinished[:10]}"
        accounted = self.executed_once + self.missed + self.max_instances
        assert accounted == self.expected, self.line()

    def figures(self) -> dict[str, int]:
        """The counts as a dict (for RESULTS.md)."""
        return {
            "expected": self.expected,
            "executed_once": self.executed_once,
            "missed": self.missed,
            "max_instances": self.max_instances,
            "lost": len(self.lost),
            "executed_twice": len(self.duplicates),
            "republished": self.republished,
        }
