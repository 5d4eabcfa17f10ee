"""Scenario 5, job churn: 100 modifications/s through the API while 1,000 jobs fire.

One deployment, two consecutive windows of the same 1,000 jobs/s stream: a baseline
without changes, then the same length with a client ``Scheduler`` changing jobs 100 times
a second (``modify_job`` of firing jobs' arguments, and every tenth change a
``reschedule_job`` of a side job).  Every change writes the store and sends a wakeup, so
the loop re-plans ~100 extra times a second.  Lag must not degrade.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from dueq.producer import Scheduler
from tests.bench.dueq_cluster import DueqCluster
from tests.bench.dueq_steady import Phase, run_phases
from tests.bench.jobs import FUNC
from tests.bench.model import Better, Context, Row, ScenarioResult

__all__ = ["run"]

# Changes per second the client aims at.
CHANGES_PER_S = 100
# Client threads sharing the changes (each with its own Scheduler client).
CLIENTS = 4
# Side jobs that get rescheduled (they never fire within the run: 1 h interval).
SIDE_JOBS = 100
# "Must not degrade": the churn window's p99 may exceed the baseline's by this factor.
DEGRADE_FACTOR = 1.5


class ChurnLoad:
    """CHANGES_PER_S API changes per second, spread over CLIENTS client ``Scheduler``s.

    One API call costs a few ms of database commit and a confirmed wakeup, so a single
    client thread cannot always keep 100/s on a loaded machine; several clients (as
    several application processes would) keep the offered load at the target.
    """

    def __init__(self, jobs: int) -> None:
        self._jobs = jobs
        self._clients: list[Scheduler] = []

    def prepare(self, cluster: DueqCluster) -> None:
        self._clients = [
            Scheduler(
                database_url=cluster.database_url,
                broker_url=cluster.services.broker_url,
                prefix=cluster.prefix,
            )
            for _ in range(CLIENTS)
        ]
        for i in range(SIDE_JOBS):
            self._clients[0].add_job(FUNC, "interval", hours=1, id=f"side-{i}")

    def run(self, cluster: DueqCluster, end: float) -> dict[str, Any]:
        counts = [0] * CLIENTS
        began = time.time()
        threads = [
            threading.Thread(target=self._client_loop, args=(n, end, began, counts))
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - began
        for client in self._clients:
            client.shutdown()
        done = sum(counts)
        return {"changes": done, "changes_per_s": round(done / elapsed, 1), "clients": CLIENTS}

    def _client_loop(self, number: int, end: float, began: float, counts: list[int]) -> None:
        client, rng, done = self._clients[number], random.Random(number), 0
        per_client = CHANGES_PER_S / CLIENTS
        while time.time() < end:
            if done % 10 == 9:
                client.reschedule_job(f"side-{rng.randrange(SIDE_JOBS)}", "interval", hours=1)
            else:
                client.modify_job(f"s{rng.randrange(self._jobs)}", kwargs={"change": done})
            done += 1
            counts[number] = done
            # Pace to the target rate (a schedule, not an event: nothing to wait on).
            time.sleep(max(0.0, began + done / per_client - time.time()))


def _rows(store: str, raw: dict[str, Any], jobs: int) -> list[Row]:
    base, churn = raw["baseline"], raw["churn"]
    name = f"churn {jobs} jobs/s {store}"
    rows = []
    for lag in ("publish_lag", "start_lag"):
        before, during = base[lag]["p99_ms"], churn[lag]["p99_ms"]
        rows.append(Row(
            scenario=name, metric=f"{lag.replace('_', ' ')} p99 with churn", unit="ms",
            better=Better.LOWER, dueq=during, reference="same stream, no churn",
            ref_value=before, target=f"<= {DEGRADE_FACTOR}x baseline",
            ok=during <= DEGRADE_FACTOR * max(before, 1.0),
        ))  # fmt: skip
    rows += [
        Row(scenario=name, metric="API changes/s achieved", unit="/s", better=Better.HIGHER,
            dueq=churn.get("changes_per_s"), target=f">= {CHANGES_PER_S}",
            ok=churn.get("changes_per_s", 0) >= 0.95 * CHANGES_PER_S),
        Row(scenario=name, metric="runs lost", unit="", better=Better.LOWER,
            dueq=float(base["lost"] + churn["lost"]), target="0",
            ok=base["lost"] + churn["lost"] == 0),
    ]  # fmt: skip
    return rows


def run(ctx: Context) -> ScenarioResult:
    """Baseline window then churn window, on each store."""
    result = ScenarioResult(name="churn")
    jobs, seconds = ctx.size(1000, 200), ctx.size(20, 6)
    for store in ("postgresql", "sqlite"):
        ctx.log(f"dueq: churn, {jobs} jobs/s, {seconds} s baseline + {seconds} s churn ({store})")
        raw = run_phases(ctx, store=store, jobs=jobs, tag="churn", phases=[
            Phase(name="baseline", seconds=seconds),
            Phase(name="churn", seconds=seconds, load=ChurnLoad(jobs)),
        ])  # fmt: skip
        result.raw[f"dueq-{store}"] = raw
        result.rows += _rows(store, raw, jobs)
    return result
