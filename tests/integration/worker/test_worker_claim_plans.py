"""The claim statements are planned for their own arrays and the table as it is now.

A fresh deployment's tables are empty and have no statistics for their first minute or
so: a plan made then and reused later read the whole table on every call (a worker's claim
batches slowed from ~1 ms to 15 ms within 25,000 claims).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from dueq.shared.db import create_engine, upgrade_schema
from dueq.worker.claims import SqlClaimStore
from dueq.worker.claims.pipelined import _EXISTING_AND_LIVE
from tests.integration.worker.test_worker_claim_store_contract import NOW, make_run

_ANALYZED = sa.text(
    "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
    "WHERE relname = 'dueq_claims' AND schemaname = current_schema()"
)


def test_the_claim_statements_that_find_rows_by_an_array_are_never_prepared(
    pg_schema_url: str,
) -> None:
    engine = create_engine(pg_schema_url, pool_size=1, max_overflow=0)  # one connection
    upgrade_schema(engine)
    store = SqlClaimStore(engine)
    for minute in range(10):  # psycopg would prepare from the 5th execution on
        run = make_run("job-1", minute)
        store.claim_many([run], "worker-1", NOW, timedelta(minutes=5))
        store.lookup_many([run.run_id], NOW)
        store.finish_many([run.run_id], NOW)
        store.release_many([run.run_id])
    with engine.connect() as conn:
        prepared = conn.execute(sa.text("SELECT statement FROM pg_prepared_statements"))
        statements = prepared.scalars().all()
    engine.dispose()
    assert statements, "psycopg prepared nothing: the test no longer tells anything"
    assert not [s for s in statements if "ANY(" in s or "unnest($1::text[])" in s], statements


def _finished_claims(store: SqlClaimStore, count: int) -> None:
    """``count`` claims of as many jobs, each claimed and then finished (so the (status,
    lease) index keeps an entry for each finished claim's running version)."""
    for first in range(0, count, 500):
        runs = [make_run(f"job-{i}") for i in range(first, first + 500)]
        store.claim_many(runs, "worker-1", NOW, timedelta(minutes=5))
        store.finish_many([run.run_id for run in runs], NOW)


def test_a_claim_batch_counts_live_claims_job_by_job_on_a_table_without_statistics(
    pg_schema_url: str,
) -> None:
    engine = create_engine(pg_schema_url)
    upgrade_schema(engine)
    _finished_claims(SqlClaimStore(engine), 3000)
    statement = _EXISTING_AND_LIVE.replace("%b", "%s")
    params = (["run-1", "run-2"], "running", NOW.replace(tzinfo=None), ["job-1", "job-2"])
    with engine.connect() as conn:
        analyzed = conn.execute(_ANALYZED).one()
        assert analyzed == (None, None)  # the case this is about
        raw: Any = conn.connection.driver_connection
        cursor = raw.cursor()
        cursor.execute(f"EXPLAIN {statement}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    engine.dispose()
    assert "ix_dueq_claims_job_status" in plan, plan
    assert "ix_dueq_claims_status_lease" not in plan, plan
