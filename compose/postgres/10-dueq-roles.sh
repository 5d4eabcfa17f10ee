#!/bin/sh
# Runs once, when PostgreSQL initialises its data directory (docker-entrypoint-initdb.d).
# Three login roles, none a superuser (docs/security.md):
#   the migration role (dueq_migrate) owns the schema "dueq": the only one that runs DDL
#   (`dueq db upgrade`, the compose service "migrate");
#   the scheduler and worker roles read and write rows of the tables it creates, and call
#   its functions (a worker's claim of a batch of new runs, dueq_claim_fresh; the
#   leader's commit of a batch, dueq_commit_batch).
# tests/integration/compose gives test roles the same grants on a schema of their own.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v migrate="$DUEQ_DB_MIGRATE_USER" -v scheduler="$DUEQ_DB_SCHEDULER_USER" \
    -v worker="$DUEQ_DB_WORKER_USER" \
    -v migrate_pw="$DUEQ_DB_MIGRATE_PASSWORD" \
    -v scheduler_pw="$DUEQ_DB_SCHEDULER_PASSWORD" \
    -v worker_pw="$DUEQ_DB_WORKER_PASSWORD" <<'SQL'
CREATE ROLE :"migrate" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'migrate_pw';
CREATE ROLE :"scheduler" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'scheduler_pw';
CREATE ROLE :"worker" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'worker_pw';
CREATE SCHEMA dueq AUTHORIZATION :"migrate";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA dueq TO :"scheduler", :"worker";
ALTER ROLE :"migrate" SET search_path = dueq;
ALTER ROLE :"scheduler" SET search_path = dueq;
ALTER ROLE :"worker" SET search_path = dueq;
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate" IN SCHEMA dueq
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"scheduler", :"worker";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate" IN SCHEMA dueq
    GRANT USAGE, SELECT ON SEQUENCES TO :"scheduler", :"worker";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate" IN SCHEMA dueq
    GRANT EXECUTE ON FUNCTIONS TO :"scheduler", :"worker";
SQL
