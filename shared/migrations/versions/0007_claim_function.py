"""A batch of new claims in one statement on PostgreSQL: ``dueq_claim_fresh``.

Revision ID: 0007
Revises: 0006

A worker claims a batch of new runs (no stored claim of their ids, room in their jobs)
in one call of this function instead of a pipelined transaction: the same job locks and
the same all-or-nothing insert, but one statement outside a transaction block, so the
client sends one query instead of ``BEGIN``, two statements and ``COMMIT`` through
psycopg's pipeline machinery, whose Python was most of a claim's CPU (docs/worker-claims.md).

Why a function and not one plain statement: in READ COMMITTED a statement's snapshot is
taken when it starts, before any lock it takes, so a claim committed by the lock's previous
holder while this one waited would be invisible to its count.  A VOLATILE function takes a
fresh snapshot for each statement it runs: the insert's is taken after every lock is held.
The insert is run with ``EXECUTE`` so that it is planned for its own arrays on every call
(PL/pgSQL would otherwise keep a generic plan after five calls, the trap the worker's
other array statements avoid with ``prepare=False``).

Arguments: lock namespace, job lock keys (sorted, taken in that order), run ids, job ids,
payloads, max_instances (one per run), the running status, worker id, claimed-at and lease
expiry (naive UTC).  Returns true if every run was claimed, false if none was (then the
worker judges the batch run by run).  SQLite has no functions: its workers keep their path.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SIGNATURE = (
    "dueq_claim_fresh(integer, integer[], text[], text[], text[], integer[], text, text, "
    "timestamp, timestamp)"
)

_CREATE = """
CREATE OR REPLACE FUNCTION dueq_claim_fresh(
    lock_namespace integer, lock_keys integer[], run_ids text[], job_ids text[],
    payloads text[], max_instances integer[], running text, worker text,
    claimed_at timestamp, expires_at timestamp
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $body$
DECLARE
    inserted integer;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_namespace, t.k)
        FROM unnest(lock_keys) WITH ORDINALITY AS t(k, i) ORDER BY t.i;
    EXECUTE
        'WITH batch AS (SELECT t.r, t.j, t.p, t.m, '
        'row_number() OVER (PARTITION BY t.j ORDER BY t.i) AS nth '
        'FROM unnest($1, $2, $3, $4) WITH ORDINALITY AS t(r, j, p, m, i)), '
        'verdict AS (SELECT bool_and('
        'NOT EXISTS (SELECT 1 FROM dueq_claims AS c WHERE c.run_id = b.r) '
        'AND (SELECT count(*) FROM dueq_claims AS c WHERE c.job_id = b.j AND c.status = $5 '
        'AND c.lease_expires_at > $7) + b.nth <= b.m) AS fresh FROM batch AS b) '
        'INSERT INTO dueq_claims (run_id, job_id, worker_id, status, claimed_at, '
        'lease_expires_at, finished_at, payload) '
        'SELECT b.r, b.j, $6, $5, $7, $8, NULL, b.p FROM batch AS b, verdict WHERE verdict.fresh'
        USING run_ids, job_ids, payloads, max_instances, running, worker, claimed_at, expires_at;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    RETURN inserted > 0;
END
$body$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
