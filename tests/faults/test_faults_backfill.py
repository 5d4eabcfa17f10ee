"""Guarantee: a backfill runs each run-time of the range once, however often it is repeated.

``dueq jobs backfill`` (a real process) is run twice over the same range of a paused job,
the second time while the first backfill's runs are still being published and executed.
Each run-time must execute exactly once, under the run id the trigger gives it.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta

from dueq.producer import Scheduler
from dueq.shared.protocol import make_run_id
from dueq.shared.triggers import IntervalTrigger
from tests.faults.faults_procs import DUEQ, environment
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import FAULT_JOB, Rig
from tests.support.waiting import wait_until

RUN_TIMES = 12
EVERY = timedelta(minutes=5)
START = datetime(2026, 1, 1, 6, tzinfo=UTC)
END = START + EVERY * (RUN_TIMES - 1)


def _backfill(rig: Rig, *extra: str) -> str:
    done = subprocess.run(
        [
            DUEQ, "jobs", "backfill", "nightly",
            "--from", START.isoformat(), "--to", END.isoformat(),
            "--database-url", rig.database_url, "--broker-url", rig.broker_url,
            "--prefix", rig.topology.prefix, *extra,
        ],
        capture_output=True, text=True, timeout=60, env=environment(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_backfill_run_twice_executes_each_run_time_once(rig: Rig, figures: Figures) -> None:
    client = Scheduler(
        database_url=rig.database_url, broker_url=rig.broker_url, prefix=rig.topology.prefix
    )
    try:
        trigger = IntervalTrigger(minutes=5, start_date=START)
        client.add_job(FAULT_JOB, trigger, id="nightly", next_run_time=None, max_instances=1)
    finally:
        client.shutdown()
    worker = rig.worker("worker")
    rig.wait_consuming(worker)
    rig.scheduler("scheduler")

    first = _backfill(rig)
    second = _backfill(rig)
    expected = {make_run_id("nightly", START + EVERY * n) for n in range(RUN_TIMES)}
    executed = wait_until(
        lambda: (c := Counter(e.run_id for e in rig.ledger.executions())).keys() >= expected and c,
        "every backfilled run-time to execute",
        timeout=60,
    )
    wait_until(  # idle: a duplicate that was going to run has run
        lambda: rig.queue_depth() == 0 and rig.ledger.running_claims() == 0,
        "the run queue and the claims to be idle",
        timeout=30,
    )
    counts = Counter(e.run_id for e in rig.ledger.executions())
    figures["run_times"] = RUN_TIMES
    figures["executions"] = sum(counts.values())
    print(first, second, sep="")
    assert f"{RUN_TIMES}/{RUN_TIMES} run-times, {RUN_TIMES} scheduled" in first
    assert f"0 scheduled, {RUN_TIMES} already known" in second
    assert executed
    assert counts == dict.fromkeys(expected, 1)


def test_a_backfill_over_more_run_times_than_its_bound_is_refused(rig: Rig) -> None:
    client = Scheduler(
        database_url=rig.database_url, broker_url=rig.broker_url, prefix=rig.topology.prefix
    )
    try:
        client.add_job(FAULT_JOB, IntervalTrigger(minutes=5, start_date=START), id="nightly")
    finally:
        client.shutdown()
    done = subprocess.run(
        [
            DUEQ, "jobs", "backfill", "nightly", "--from", START.isoformat(),
            "--to", END.isoformat(), "--max-runs", str(RUN_TIMES - 1),
            "--database-url", rig.database_url, "--broker-url", rig.broker_url,
            "--prefix", rig.topology.prefix,
        ],
        capture_output=True, text=True, timeout=60, env=environment(), check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"more than {RUN_TIMES - 1} run-times" in done.stderr
