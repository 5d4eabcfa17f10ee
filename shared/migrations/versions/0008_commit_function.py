"""The scheduler's commit of a batch in one statement on PostgreSQL: ``dueq_commit_batch``.

Revision ID: 0008
Revises: 0007

The leader commits each published batch (the fence on its lease, the jobs moved on, the
exhausted ones removed, the runs recorded) in one call of this function instead of a
transaction of its own: one query, outside a transaction block, where the transaction cost
``BEGIN``, the frozen-transaction limit, a read of the database clock, the fence, two or
three writes and ``COMMIT``, each a round trip and, in a scheduler whose events thread
runs Python meanwhile, a wait for the GIL after it (docs/dispatch.md).

The fence is the same no-op ``UPDATE`` of the lease row: it takes the row's write lock, so
a standby's takeover waits until the writes are committed; if no row matches (another
holder, a later epoch, an expired lease) nothing is written and the call returns false.
A NULL ``lease_name`` commits unfenced (``commit_batch`` without a lease).
The lease's expiry is compared with ``fence_at``, or with the database's clock at that
moment when it is NULL (``clock_timestamp()``, not ``now()``, as ``dbclock`` reads it).
Being one statement, the call cannot be left idle in its transaction by a frozen client,
which the transaction's ``idle_in_transaction_session_timeout`` guarded against.

The writes are the statements ``producer/store/commit.py`` runs on SQLite's path and ran
on PostgreSQL's, over JSON arrays of rows (timestamps as naive UTC text): each keeps the
compare-and-set on ``next_run_time``, so a job changed through the API meanwhile is left
alone.  They run with ``EXECUTE``, planned for their own rows on every call, as the claim
function's insert (migration 0007).  SQLite has no functions: its scheduler keeps its path.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SIGNATURE = "dueq_commit_batch(text, text, bigint, timestamp, json, json, json, text, timestamp)"

_CREATE = """
CREATE OR REPLACE FUNCTION dueq_commit_batch(
    lease_name text, lease_holder text, lease_epoch bigint, fence_at timestamp,
    advance json, remove json, record json, submitted text, committed_at timestamp
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $body$
BEGIN
    IF lease_name IS NOT NULL THEN
        UPDATE dueq_leader AS l SET renewed_at = l.renewed_at
            WHERE l.name = lease_name AND l.holder = lease_holder AND l.epoch = lease_epoch
            AND l.expires_at > coalesce(fence_at, clock_timestamp() AT TIME ZONE 'UTC');
        IF NOT FOUND THEN
            RETURN false;
        END IF;
    END IF;
    IF json_array_length(advance) > 0 THEN
        EXECUTE
            'UPDATE dueq_jobs AS j SET next_run_time = CAST(u.r->>2 AS timestamp), '
            'next_fire_time = CAST(u.r->>3 AS timestamp), updated_at = $2 '
            'FROM json_array_elements($1) AS u(r) '
            'WHERE j.id = u.r->>0 AND j.next_run_time = CAST(u.r->>1 AS timestamp)'
            USING advance, committed_at;
    END IF;
    IF json_array_length(remove) > 0 THEN
        EXECUTE
            'DELETE FROM dueq_jobs AS j USING json_array_elements($1) AS u(r) '
            'WHERE j.id = u.r->>0 AND j.next_run_time = CAST(u.r->>1 AS timestamp)'
            USING remove;
    END IF;
    IF json_array_length(record) > 0 THEN
        EXECUTE
            'INSERT INTO dueq_runs (run_id, job_id, scheduled_at, status, published_at, '
            'redelivered, updated_at) '
            'SELECT u.r->>0, u.r->>1, CAST(u.r->>2 AS timestamp), $2, '
            'CAST(u.r->>3 AS timestamp), false, CAST(u.r->>3 AS timestamp) '
            'FROM json_array_elements($1) AS u(r) '
            'ON CONFLICT (run_id, execution) DO UPDATE SET published_at = excluded.published_at '
            'WHERE dueq_runs.published_at IS NULL'
            USING record, submitted;
    END IF;
    RETURN true;
END
$body$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
