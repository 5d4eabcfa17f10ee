#!/usr/bin/env bash
# `make bench`: install the reference systems (the `bench` extra: APScheduler 3.11, Celery,
# psutil) into .venv, make sure RabbitMQ and PostgreSQL are up, then run the benchmark
# harness. Arguments go to the harness, e.g.:
#   scripts/bench.sh --quick                 # a smoke run of every scenario (minutes)
#   scripts/bench.sh --only burst,worker     # some scenarios, full size
# The table is printed at the end; raw numbers go to bench-results/<timestamp>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "bench: $VENV is missing; run 'make test' (or 'make run') once to create it" >&2
  exit 1
fi

"$VENV/bin/python" -m pip install --quiet -e '.[bench]'
bash scripts/ensure-services.sh
exec "$VENV/bin/python" -m tests.bench "$@"
