#!/bin/sh
# RabbitMQ's entrypoint for dueq: start the broker, then give the scheduler and the workers
# one user each, with permissions that enforce their roles (docs/security.md):
#   scheduler: declare the topology, publish runs, consume events, dead-letter events;
#   workers:   declare the topology, consume runs, publish events, dead-letter runs.
# The regexes come from docker-compose.yml (DUEQ_*_CONFIGURE/WRITE/READ), which
# tests/integration/compose applies to real users on a real broker.
set -eu

docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'kill -TERM "$server"; wait "$server"' TERM INT

rabbitmqctl await_startup --timeout 120

user() {  # name password configure write read
    rabbitmqctl add_user "$1" "$2" >/dev/null 2>&1 || rabbitmqctl change_password "$1" "$2"
    rabbitmqctl set_permissions -p / "$1" "$3" "$4" "$5"
}
user "$DUEQ_SCHEDULER_USER" "$DUEQ_SCHEDULER_PASSWORD" \
    "$DUEQ_SCHEDULER_CONFIGURE" "$DUEQ_SCHEDULER_WRITE" "$DUEQ_SCHEDULER_READ"
user "$DUEQ_WORKER_USER" "$DUEQ_WORKER_PASSWORD" \
    "$DUEQ_WORKER_CONFIGURE" "$DUEQ_WORKER_WRITE" "$DUEQ_WORKER_READ"
touch /tmp/dueq-users-ready

wait "$server"
