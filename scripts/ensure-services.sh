#!/usr/bin/env bash
# Make sure the services the test suite talks to are reachable on loopback:
#   RabbitMQ   127.0.0.1:5672  (guest/guest)
#   PostgreSQL 127.0.0.1:5432  (user postgres without password, database "test")
# Starts them when installed but stopped, installs them with apt-get when running as root,
# and otherwise stops with a message saying what is missing and how to get it.
set -uo pipefail

RABBIT_PORT=5672
PG_PORT=5432
WAIT_SECONDS=90

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {  # name port
  local deadline=$((SECONDS + WAIT_SECONDS))
  until port_open "$2"; do
    [ "$SECONDS" -ge "$deadline" ] && die "$1 did not open 127.0.0.1:$2 within ${WAIT_SECONDS}s"
    sleep 1
  done
  say "$1 is reachable on 127.0.0.1:$2"
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
    die "apt-get could not install $*"
}

ensure_rabbitmq() {
  port_open "$RABBIT_PORT" && { say "RabbitMQ is reachable on 127.0.0.1:$RABBIT_PORT"; return; }
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    can_install || die "RabbitMQ is not reachable on 127.0.0.1:$RABBIT_PORT and not installed.
  Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server) or run one, e.g.
  docker run -d -p 5672:5672 rabbitmq:3, or set DUEQ_TEST_BROKER_URL."
    apt_install rabbitmq-server
  fi
  say "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for_port RabbitMQ "$RABBIT_PORT"
}

pg_cluster_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

trust_loopback() {  # only for a cluster this script installed: tests connect without a password
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  grep -q '^host all all 127.0.0.1/32 trust' "$hba" ||
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
}

ensure_postgres() {
  local installed_now=0
  if ! port_open "$PG_PORT"; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(pg_cluster_version)" ]; then
      can_install || die "PostgreSQL is not reachable on 127.0.0.1:$PG_PORT and not installed.
  Install it (Debian/Ubuntu: sudo apt-get install postgresql) or run one, e.g.
  docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15,
  or set DUEQ_TEST_POSTGRES_URL."
      apt_install postgresql
      installed_now=1
    fi
    local version; version=$(pg_cluster_version)
    [ "$installed_now" = 1 ] && trust_loopback "$version"
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 ||
      pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
    wait_for_port PostgreSQL "$PG_PORT"
  else
    say "PostgreSQL is reachable on 127.0.0.1:$PG_PORT"
  fi
  ensure_test_database
}

ensure_test_database() {
  command -v psql >/dev/null 2>&1 || return 0
  local exists
  exists=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null) ||
    die "PostgreSQL on 127.0.0.1:$PG_PORT refused user postgres without a password;
  allow it (pg_hba.conf: host all all 127.0.0.1/32 trust) or set DUEQ_TEST_POSTGRES_URL."
  [ "$exists" = 1 ] || psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' ||
    die "could not create database test"
}

[ -n "${DUEQ_TEST_BROKER_URL:-}" ] || ensure_rabbitmq
[ -n "${DUEQ_TEST_POSTGRES_URL:-}" ] || ensure_postgres
