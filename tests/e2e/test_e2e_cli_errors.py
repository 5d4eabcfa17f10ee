"""Every failure a user can type ends ``dueq`` in a short message and the right exit code.

Each case runs ``dueq`` as a real process (the way a person meets it) and checks what the
README promises: no traceback; exit code 2 when what was typed must change, 1 when a
service or a lookup failed; and a last line on stderr naming the problem.  Commands that
start a service may log their banner first, so the message is the last line, and the
whole of stderr stays a few lines (click's usage errors take four: usage, hint, blank,
error).  The processes run two at a time, so the module stays well under 30 s.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import REPO

pytestmark = pytest.mark.e2e

DUEQ = Path(sys.executable).parent / "dueq"
USER = 2  # the user must change what they typed
FAILURE = 1  # a service is down, or what was named does not exist
# click's usage errors print usage, a hint, a blank line and the error.
_MOST_LINES = 4
# A command that should fail at once but serves or retries instead is killed after this.
_PROCESS_TIMEOUT_S = 20
# Nothing listens on port 1: a refused connection, at once.
_BROKER_DOWN = "amqp://guest:guest@127.0.0.1:1//"


@dataclass(frozen=True)
class Case:
    """One invocation, the exit code it must end with, and words its message must hold."""

    args: tuple[str, ...]
    code: int
    says: str
    env: dict[str, str] = field(default_factory=dict)


def _cases(postgres_url: str) -> dict[str, Case]:
    missing_pg = postgres_url.rsplit("/", 1)[0] + "/dueq_no_such_database"
    add = ("jobs", "add", "--func", "myapp.jobs:report")
    return {
        "garbage database URL": Case(
            ("jobs", "list"), USER, "invalid database URL", {"DUEQ_DATABASE_URL": "not a url"}
        ),
        "SQLite file in a missing folder": Case(
            ("jobs", "list"), USER, "unable to open database file",
            {"DUEQ_DATABASE_URL": "sqlite:////no/such/folder/dueq.sqlite3"},
        ),
        "PostgreSQL database that does not exist": Case(
            ("runs",), USER, "dueq_no_such_database", {"DUEQ_DATABASE_URL": missing_pg}
        ),
        "placeholder password": Case(
            ("jobs", "list"), USER, "placeholder password",
            {"DUEQ_DATABASE_URL": "postgresql+psycopg://dueq:change-me@127.0.0.1/dueq"},
        ),
        "unknown time zone": Case(("jobs", "list", "--timezone", "Mars/Base"), USER, "Mars/Base"),
        "broker unreachable": Case(
            ("dead", "list"), FAILURE, "broker unavailable", {"DUEQ_BROKER_URL": _BROKER_DOWN}
        ),
        "health with the broker down": Case(
            ("health", "--role", "worker"), FAILURE, "broker unavailable",
            {"DUEQ_BROKER_URL": _BROKER_DOWN},
        ),
        "job id that does not exist": Case(("jobs", "show", "nope"), FAILURE, "no job with id"),
        "pausing a job that does not exist": Case(
            ("jobs", "pause", "nope"), FAILURE, "no job with id"
        ),
        "dead letter that does not exist": Case(
            ("dead", "show", "nope"), FAILURE, "error: no dead letter 'nope'"
        ),
        "cron field out of range": Case((*add, "--cron", "61 * * * *"), USER, "minute"),
        "cron text that is not crontab": Case((*add, "--cron", "banana"), USER, "crontab"),
        "interval that is not a duration": Case(
            (*add, "--interval", "5 parsecs"), USER, "not a duration"
        ),
        "date that is not ISO 8601": Case((*add, "--at", "tomorrow"), USER, "ISO 8601"),
        "--args that is not JSON": Case(
            (*add, "--interval", "1m", "--args", "[1,"), USER, "not JSON"
        ),
        "--kwargs that is not an object": Case(
            (*add, "--interval", "1m", "--kwargs", "[1]"), USER, "JSON object"
        ),
        "func that is no reference": Case(
            ("jobs", "add", "--func", "not a func!", "--interval", "1m"), USER,
            "invalid function reference",
        ),
        "--from that is no date": Case(
            ("jobs", "backfill", "tick", "--from", "yesterday", "--to", "2026-01-02"), USER,
            "ISO 8601",
        ),
        "--to before --from": Case(
            ("jobs", "backfill", "tick", "--from", "2026-01-03", "--to", "2026-01-02"), USER,
            "before it starts",
        ),
        "crontab preview of bad text": Case(("next", "x y"), USER, "expected 5 fields"),
        "worker importing a missing module": Case(
            ("worker", "--import", "dueq_no_such_module"), USER, "dueq_no_such_module"
        ),
        "downgrade to an unknown revision": Case(
            ("db", "downgrade", "zzzz", "--yes"), USER, "zzzz"
        ),
    }  # fmt: skip


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield int(listener.getsockname()[1])


def _port_cases(port: int) -> dict[str, Case]:
    return {
        "dashboard port in use": Case(("dashboard", "--port", str(port)), USER, "in use"),
        "dashboard on a garbage database URL": Case(
            ("dashboard", "--port", "0", "--database-url", "not a url"),
            USER,
            "invalid database URL",
        ),
        "scheduler metrics port in use": Case(
            ("scheduler", "--metrics-port", str(port)), USER, "in use"
        ),
    }


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, busy_port: int
) -> dict[str, tuple[Case, subprocess.CompletedProcess[str]]]:
    """Every case run against a SQLite store holding the job ``tick``, two at a time."""
    folder = tmp_path_factory.mktemp("cli-errors")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
    env.update(
        DUEQ_DATABASE_URL=f"sqlite:///{folder / 'dueq.sqlite3'}", DUEQ_BROKER_URL="memory://"
    )
    add = ("jobs", "add", "--func", "myapp.jobs:report", "--id", "tick", "--interval", "1m")
    subprocess.run([DUEQ, *add], env=env, cwd=REPO, check=True, capture_output=True)
    cases = {**_cases(postgres_url), **_port_cases(busy_port)}

    def run(case: Case) -> subprocess.CompletedProcess[str]:
        command = [str(DUEQ), *case.args]
        try:
            return subprocess.run(
                command, env={**env, **case.env}, cwd=folder, capture_output=True, text=True,
                timeout=_PROCESS_TIMEOUT_S,
            )  # fmt: skip
        except subprocess.TimeoutExpired:  # that case fails; the others still tell
            return subprocess.CompletedProcess(command, -1, "", "(still running: killed)")

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(cases, pool.map(run, cases.values()), strict=True))
    return {name: (cases[name], done[name]) for name in cases}


CASE_NAMES = [*_cases("postgresql://x/y"), *_port_cases(0)]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_a_failure_is_a_short_message_with_the_right_exit_code(
    name: str, results: dict[str, tuple[Case, subprocess.CompletedProcess[str]]]
) -> None:
    case, done = results[name]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == case.code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert 1 <= len(lines) <= _MOST_LINES, done.stderr
    message = lines[-1]
    assert message.startswith(("error:", "Error:", "unhealthy:")), done.stderr
    assert case.says in message, message
