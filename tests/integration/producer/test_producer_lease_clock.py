"""The leader lease is decided on PostgreSQL's clock, whatever the schedulers' hosts say."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dueq.producer.leader import LeaseLost, SqlLeaderLease
from dueq.producer.store.sql import SqlJobStore
from dueq.shared.db import create_engine, upgrade_schema

LEASE = timedelta(seconds=10)
SKEW = timedelta(seconds=30)


@pytest.fixture
def engine(pg_schema_url: str) -> Iterator[sa.Engine]:
    made = create_engine(pg_schema_url)
    upgrade_schema(made)
    yield made
    made.dispose()


def test_a_host_30_s_ahead_cannot_take_a_live_lease(engine: sa.Engine) -> None:
    lease = SqlLeaderLease(engine)
    now = datetime.now(UTC)
    assert lease.acquire("on-time", now, LEASE) is not None
    assert lease.acquire("ahead", now + SKEW, LEASE) is None
    current = lease.current()
    assert current is not None
    assert current.holder == "on-time"


def test_a_leader_30_s_behind_writes_an_expiry_the_others_see_as_live(engine: sa.Engine) -> None:
    lease = SqlLeaderLease(engine)
    now = datetime.now(UTC)
    held = lease.acquire("behind", now - SKEW, LEASE)
    assert held is not None
    assert held.expires_at == now - SKEW + LEASE  # on its own clock, for its own use
    assert lease.acquire("on-time", now, LEASE) is None
    stored = lease.current()
    assert stored is not None
    assert stored.expires_at > now  # on the database's clock
    # The fencing check of the store's commit uses the same clock: the lease still counts.
    store = SqlJobStore(engine)
    store.commit_batch([], [], lease=held, now=now - SKEW)


def test_a_released_lease_is_free_at_once_for_a_host_behind(engine: sa.Engine) -> None:
    lease = SqlLeaderLease(engine)
    now = datetime.now(UTC)
    held = lease.acquire("ahead", now + SKEW, LEASE)
    assert held is not None
    lease.release(held, now + SKEW)
    taken = lease.acquire("behind", now - SKEW, LEASE)
    assert taken is not None
    assert taken.epoch == held.epoch + 1


def test_a_commit_is_refused_once_the_lease_expired_on_the_databases_clock(
    engine: sa.Engine,
) -> None:
    lease = SqlLeaderLease(engine)
    now = datetime.now(UTC)
    held = lease.acquire("behind", now - SKEW, LEASE)
    assert held is not None
    store = SqlJobStore(engine)
    store.commit_batch([], [], lease=held, now=now - SKEW)  # live on both clocks
    expire = "UPDATE dueq_leader SET expires_at = clock_timestamp() AT TIME ZONE 'UTC'"
    with engine.begin() as conn:
        conn.execute(sa.text(expire))
    # Ten seconds to go on the leader's own clock, 30 s behind: the database's clock decides.
    with pytest.raises(LeaseLost):
        store.commit_batch([], [], lease=held, now=now - SKEW)
