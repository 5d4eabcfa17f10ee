"""``python -m tests.bench [--only burst,steady] [--quick]``: run, print, save.

Each scenario measures dueq and its references in this same run, prints the side-by-side
table at the end (Markdown) and writes every raw number to ``bench-results/<time>.json``.
``--quick`` shrinks every size for a smoke run (a few minutes); the full run takes roughly
half an hour on a 2-core machine and should have the machine to itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.bench import (
    scenario_burst,
    scenario_ceiling,
    scenario_churn,
    scenario_cli,
    scenario_history,
    scenario_scale,
    scenario_steady,
    scenario_worker,
)
from tests.bench.model import Context, ScenarioResult
from tests.bench.procs import REPO_ROOT
from tests.bench.report import format_table, write_json
from tests.bench.services import Services, issued_names, machine_info, sweep_broker

__all__ = ["SCENARIOS", "main"]

SCENARIOS: dict[str, Callable[[Context], ScenarioResult]] = {
    "ceiling": scenario_ceiling.run,
    "burst": scenario_burst.run,
    "steady": scenario_steady.run,
    "worker": scenario_worker.run,
    "scale": scenario_scale.run,
    "churn": scenario_churn.run,
    "history": scenario_history.run,
    "cli": scenario_cli.run,
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios (default: all): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--burst-sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=None,
        help="burst sizes instead of the default (full: 10000,100000; quick: 2000)",
    )
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="measure dueq only (development; the table has no ratios)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "bench-results",
        help="directory of the JSON results (default: bench-results/)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/dueq-bench"),
        help="scratch directory: SQLite files, process logs",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args  # fmt: skip


def _run_one(name: str, ctx: Context) -> ScenarioResult:
    started = time.monotonic()
    try:
        result = SCENARIOS[name](ctx)
    except Exception as exc:  # one failed scenario must not lose the others' numbers
        ctx.log(f"{name} failed:\n{traceback.format_exc()}")
        result = ScenarioResult(name=name, error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.monotonic() - started
    ctx.log(f"{name}: done in {result.seconds:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; exit status 1 if any of them failed to run."""
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    services = Services.from_env(args.workdir)

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    ctx = Context(services=services, quick=args.quick, log=log,
                  with_references=not args.no_references,
                  burst_sizes=args.burst_sizes)  # fmt: skip
    meta = {"machine": machine_info(services), "quick": args.quick, "argv": sys.argv[1:],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    results = []
    try:
        for name in (n for n in SCENARIOS if n in args.only.split(",")):
            log(f"scenario {name}")
            results.append(_run_one(name, ctx))
    finally:
        sweep_broker(services.broker_url, issued_names())
    meta["load_average_end"] = list(__import__("os").getloadavg())
    path = write_json(args.out, results, meta)
    print(format_table(results))
    print(f"\nraw results: {path}")
    return 1 if any(r.error for r in results) else 0
