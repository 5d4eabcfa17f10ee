"""A standby says what it waits for, and does not wait for a holder that provably died."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from dueq.producer.leader import SqlLeaderLease
from dueq.producer.leader.identity import ProcessIdentity
from dueq.producer.leadership import Leadership
from dueq.shared.db import create_engine, upgrade_schema

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=15)
ME = ProcessIdentity.current()


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    made = create_engine(sqlite_url)
    upgrade_schema(made)
    yield made
    made.dispose()


def _dead_pid() -> int:
    """The pid of a process that has just ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _held_by(engine: Engine, identity: ProcessIdentity) -> None:
    """The lease as another scheduler left it: taken, never released."""
    assert SqlLeaderLease(engine, identity=identity).acquire("old", NOW, LEASE) is not None


def _standby(engine: Engine) -> Leadership:
    return Leadership(SqlLeaderLease(engine, identity=ME), "new", LEASE, identity=ME)


def test_a_dead_holder_on_this_host_is_replaced_at_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _held_by(engine, ProcessIdentity(host=ME.host, pid=_dead_pid()))
    with caplog.at_level(logging.INFO, logger="dueq.producer.leadership"):
        lease = _standby(engine).ensure(NOW + timedelta(seconds=1))
    assert lease is not None
    assert (lease.holder, lease.epoch, lease.pid) == ("new", 2, os.getpid())
    assert "gone without releasing its lease; taking over now" in caplog.text


def test_a_live_holder_on_this_host_is_waited_for_and_the_wait_is_explained(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _held_by(engine, ProcessIdentity(host=ME.host, pid=os.getppid()))
    standby = _standby(engine)
    with caplog.at_level(logging.INFO, logger="dueq.producer.leadership"):
        assert standby.ensure(NOW + timedelta(seconds=1)) is None
        assert standby.ensure(NOW + timedelta(seconds=2)) is None  # said once, not per tick
    [line] = [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()]
    assert "old (pid" in line
    assert "holds the leader lease until 12:00:15 UTC (14s from now)" in line
    assert "new takes over then unless it is renewed" in line


def test_a_holder_on_another_host_is_waited_for_even_if_that_pid_is_free_here(
    engine: Engine,
) -> None:
    _held_by(engine, ProcessIdentity(host="elsewhere", pid=_dead_pid()))
    assert _standby(engine).ensure(NOW + timedelta(seconds=1)) is None


def test_taking_over_after_the_expiry_names_the_old_leader(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _held_by(engine, ProcessIdentity(host="elsewhere", pid=1))
    standby = _standby(engine)
    with caplog.at_level(logging.INFO, logger="dueq.producer.leadership"):
        assert standby.ensure(NOW + timedelta(seconds=1)) is None
        lease = standby.ensure(NOW + LEASE + timedelta(seconds=1))
    assert lease is not None
    assert "scheduler new is the leader (epoch 2), taking over from old" in caplog.text
