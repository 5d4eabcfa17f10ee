"""The events consumer's batch UPDATE on PostgreSQL finds its rows through the primary key.

Joined to the batch's recordset alone, the planner hashed it against a scan of the whole
run history: a cost that grew with the history, paid for every batch of events.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from dueq.producer.history import pgrows
from dueq.shared.db import open_database, upgrade_schema

# A history where a plain join's plan is a scan of the whole table (up to ~25,000 rows
# here; beyond that PostgreSQL probes the index itself).
_HISTORY_ROWS = 10_000
_BATCH = 100


def test_a_batch_update_reads_the_history_through_its_index(pg_schema_url: str) -> None:
    engine = open_database(pg_schema_url)
    try:
        upgrade_schema(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO dueq_runs (run_id, execution, job_id, scheduled_at, status, "
                    "redelivered, updated_at) SELECT md5(i::text), 1, 'j', now(), 'submitted', "
                    "false, now() FROM generate_series(1, :n) AS i"
                ),
                {"n": _HISTORY_ROWS},
            )
            conn.execute(sa.text("ANALYZE dueq_runs"))
            rows = [
                {"run_id": f"r{n}", "execution": 1, "status": "executed"} for n in range(_BATCH)
            ]
            statement = pgrows._update(("execution", "run_id", "status"))
            plan = "\n".join(
                conn.scalars(sa.text(f"EXPLAIN {statement.text}"), {"rows": json.dumps(rows)})
            )
    finally:
        engine.dispose()
    assert "Seq Scan on dueq_runs" not in plan, plan
    assert "dueq_runs_pkey" in plan, plan
