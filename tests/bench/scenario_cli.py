"""CLI start-up: ``dueq --help`` and ``dueq jobs list`` against SQLite, beside ``celery --help``.

Each command runs as a fresh process (what a person typing it waits for), five times; the
median is reported.  Targets from issue 14: ``dueq --help`` within 0.25 s and ``dueq jobs
list`` within 0.5 s.  ``celery --help`` is the reference (installed by the bench extra;
without it the row says so).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.model import Better, Context, Row, ScenarioResult
from tests.bench.services import database

__all__ = ["run"]

_RUNS = 5
_HELP_TARGET_S = 0.25
_LIST_TARGET_S = 0.5
# Jobs in the store while `jobs list` is timed: a screenful, as a person would have.
_JOBS = 20
_BIN = Path(sys.executable).parent


def _median_seconds(command: list[str], env: dict[str, str]) -> float:
    """Median wall time of ``command`` over ``_RUNS`` runs (after one warm-up run)."""
    times = []
    for attempt in range(_RUNS + 1):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
        if attempt:  # the first run warms the page cache and .pyc files
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _fill(env: dict[str, str]) -> None:
    """Migrate the database and add ``_JOBS`` cron jobs, keeping the bench log readable.

    ``jobs add`` warns on stderr that no worker consumes the queue (none runs here): twenty
    such lines said nothing about the bench, so its stderr is captured instead of printed
    (a failing command still stops the bench, its stderr on the ``CalledProcessError``).
    """
    dueq = str(_BIN / "dueq")
    subprocess.run([dueq, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    for index in range(_JOBS):
        subprocess.run(
            [dueq, "jobs", "add", "--func", "examples.demo:add", "--id", f"job-{index}",
             "--cron", f"{index} * * * *", "--args", "[2, 3]"],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip


def _celery_help(env: dict[str, str]) -> float | None:
    try:
        return _median_seconds([sys.executable, "-m", "celery", "--help"], env)
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None  # the bench extra is not installed


def run(ctx: Context) -> ScenarioResult:
    """Time the two commands and the reference; one row each."""
    result = ScenarioResult(name="cli")
    with database("sqlite", ctx.services, "cli") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
        # What a person waits for runs from compiled bytecode, as an installed dueq has it
        # (pip compiles a wheel at install): with PYTHONDONTWRITEBYTECODE inherited, the
        # warm-up run wrote no .pyc and every timed run compiled dueq's sources again.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # memory:// so `jobs add` sends its wakeup nowhere, without a broker round trip.
        env.update(DUEQ_DATABASE_URL=url, DUEQ_BROKER_URL="memory://")
        _fill(env)
        dueq = str(_BIN / "dueq")
        help_s = _median_seconds([dueq, "--help"], env)
        list_s = _median_seconds([dueq, "jobs", "list"], env)
        celery_s = _celery_help(env) if ctx.with_references else None
    result.raw = {"dueq_help_s": help_s, "dueq_jobs_list_s": list_s, "celery_help_s": celery_s,
                  "runs": _RUNS, "load_average": list(os.getloadavg())}  # fmt: skip
    reference = "celery --help" if celery_s is not None else "celery --help (not installed)"
    result.rows = [
        Row(scenario="CLI start-up, median of 5", metric="dueq --help", unit="s",
            better=Better.LOWER, dueq=help_s, reference=reference, ref_value=celery_s,
            target=f"<= {_HELP_TARGET_S} s", ok=help_s <= _HELP_TARGET_S),
        Row(scenario="CLI start-up, median of 5", metric=f"dueq jobs list ({_JOBS} jobs, SQLite)",
            unit="s", better=Better.LOWER, dueq=list_s, reference=reference,
            ref_value=celery_s, target=f"<= {_LIST_TARGET_S} s", ok=list_s <= _LIST_TARGET_S),
    ]  # fmt: skip
    return result
