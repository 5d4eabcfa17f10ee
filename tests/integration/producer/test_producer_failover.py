"""Two scheduler processes on one store: one publishes; kill it and the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa

from dueq.producer.leader import SqlLeaderLease
from dueq.shared.db import create_engine
from dueq.shared.topology import Topology
from tests.integration.producer.conftest import MakeScheduler
from tests.integration.producer.producer_support import DEADLINE_S, RunCollector
from tests.support.waiting import wait_until

LEASE_SECONDS = 2.0
# Short, so the phases before and after the kill take a second or two each.
STEP = timedelta(seconds=0.25)


@pytest.fixture
def engine(pg_schema_url: str) -> Iterator[sa.Engine]:
    made = create_engine(pg_schema_url)
    yield made
    made.dispose()


def start_scheduler(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dueq", "scheduler", "--scheduler-id", name,
         "--lease-seconds", str(LEASE_SECONDS)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_only_the_leader_publishes_and_a_standby_takes_over_within_the_lease(
    pg_schema_url: str,
    make_scheduler: MakeScheduler,
    engine: sa.Engine,
    rabbitmq_url: str,
    topology: Topology,
) -> None:
    client = make_scheduler(pg_schema_url)
    client.add_job(
        "pkg.jobs:tick", "interval", seconds=STEP.total_seconds(), id="j", coalesce=False
    )
    # The kill must land between a commit and the next publish.  Look-ahead shrinks that
    # window to STEP - lookahead, here nothing: a kill then leaves a batch published and
    # not committed, which the successor publishes again (same run ids, dropped by the
    # workers; tests/faults cover that).  This test is about takeover: no look-ahead.
    env = {**os.environ, "DUEQ_BROKER_URL": rabbitmq_url, "DUEQ_DATABASE_URL": pg_schema_url,
           "DUEQ_PREFIX": topology.prefix, "DUEQ_LOOKAHEAD_SECONDS": "0"}  # fmt: skip
    schedulers = {name: start_scheduler(name, env) for name in ("alpha", "beta")}
    lease = SqlLeaderLease(engine)
    try:
        with RunCollector(rabbitmq_url, topology) as collector:
            before = collector.wait_for(lambda rs: len(rs) >= 6, "six runs from the leader")
            current = lease.current()
            assert current is not None
            leader, epoch = current.holder, current.epoch
            assert {run.epoch for run in before} == {epoch}
            # Kill the leader right after a commit, so no batch of its is in flight.
            last = collector.runs[-1].scheduled_at
            wait_until(
                lambda: (
                    (j := client.get_job("j")) is not None
                    and j.next_run_time is not None
                    and j.next_run_time > last
                ),
                "the leader's commit",
                timeout=DEADLINE_S,
            )
            schedulers[leader].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            runs = collector.wait_for(
                lambda rs: sum(r.epoch > epoch for r in rs) >= 4, "runs from the new leader"
            )
            first_new = next(i for i, r in enumerate(runs) if r.epoch > epoch)
            took_over = time.monotonic() - killed_at
    finally:
        for process in schedulers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(20) for name, process in schedulers.items()}
    standby = next(name for name in schedulers if name != leader)
    assert codes[standby] == 0
    successor = lease.current()
    assert successor is not None
    assert successor.epoch > epoch
    old_ids = [r.run_id for r in runs[:first_new]]
    old, new = set(old_ids), {r.run_id for r in runs[first_new:]}
    assert len(runs) == len(old) + len(new), "a scheduler published a run twice"
    # The kill is aimed just after a commit; on a loaded machine it can land after the next
    # publish instead, and the successor then publishes that uncommitted batch again with
    # the same run ids (workers drop the copies). Only those may be published by both:
    # the old leader's last runs, never one it had committed.
    twice = old & new
    assert set(old_ids[len(old_ids) - len(twice) :]) == twice, "a committed run was republished"
    times = sorted({r.scheduled_at for r in runs})
    assert all(b - a == STEP for a, b in pairwise(times)), "a run was lost"
    # Within the lease, plus the standby's renewal step and its first publish.
    assert took_over < LEASE_SECONDS + LEASE_SECONDS / 3 + 1.0
