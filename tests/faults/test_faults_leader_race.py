"""Guarantee: two schedulers never publish the same run, and a deposed leader stays quiet.

Two ``dueq scheduler`` processes start together against one database and race for the
lease.  The winner is killed (kill -9): the other takes over within the lease.  A third
process joins as the new standby.  Then the leader is frozen (SIGSTOP) until the standby
has taken the lease over and published with the next epoch, and thawed (SIGCONT): it must
notice it lost the lease and publish nothing more.

Every RunRequest carries its leader's epoch; the tap sees them in publishing order, so
"the stale leader published nothing after losing the lease" reads: the epochs the tap saw
never go down, and no message of the frozen leader's epoch arrives after it was thawed.
"""

from __future__ import annotations

import re

from tests.faults.faults_procs import Proc
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import SCHEDULER_LEASE_S, Rig, interval_jobs, soon
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

JOBS, EVERY_S, WINDOW_S = 3, 0.25, 13.0
LEAD_S = 4.0
LEADER_LOG = r"is the leader \(epoch (\d+)\)"
# Runs each leader must have published before the next fault: proof that it dispatches.
RUNS_PER_PHASE = 4
# Takeover bound: the lease, plus a tick, plus process scheduling on a busy 2-core host.
TAKEOVER_MARGIN_S = 2.0


def test_racing_schedulers_never_double_a_run_and_a_deposed_leader_publishes_nothing(
    rig: Rig, figures: Figures
) -> None:
    tap = rig.tap_runs()
    start = soon(LEAD_S)
    rig.add_jobs(interval_jobs(JOBS, every=EVERY_S, start=start, window=WINDOW_S))
    window_end = start.timestamp() + WINDOW_S
    worker = rig.worker("worker")
    rig.wait_consuming(worker)
    racers = [rig.scheduler(f"racer-{n}", scheduler_id=f"race-{n}") for n in "ab"]

    first, first_epoch = _first_leader(racers)
    standby = next(p for p in racers if p is not first)
    _published(tap, first_epoch, RUNS_PER_PHASE)
    killed_at = first.kill()
    second_epoch = int(standby.wait_for_log(LEADER_LOG, timeout=SCHEDULER_LEASE_S + 10))
    failover = _published(tap, second_epoch, 1)[0] - killed_at

    third = rig.scheduler("racer-c", scheduler_id="race-c")
    third.wait_for_log(r"scheduler connected to", timeout=30)
    _published(tap, second_epoch, RUNS_PER_PHASE)
    paused_at = standby.pause()
    third_epoch = int(third.wait_for_log(LEADER_LOG, timeout=SCHEDULER_LEASE_S + 10))
    takeover_at = _published(tap, third_epoch, RUNS_PER_PHASE)[0]
    resumed_at = standby.resume()
    standby.wait_for_log(r"no longer the leader|lost the leader lease", timeout=15)
    wait_until(
        lambda: (
            sum(a > resumed_at for a, r in tap.runs() if r.epoch == third_epoch) >= RUNS_PER_PHASE
        ),
        "the new leader to publish on while the deposed one runs again",
        timeout=15,
    )

    settle = rig.wait_settled(timeout=60)
    tally = rig.tally(tap=tap)
    arrivals = tap.runs()
    epochs = [run.epoch for _, run in arrivals]
    stale = [a for a, run in arrivals if run.epoch == second_epoch and a > paused_at + 0.5]
    per_epoch = {e: epochs.count(e) for e in sorted(set(epochs))}
    print(tally.line())
    print(
        f"epochs {first_epoch} -> {second_epoch} (kill -9, first run of the new leader "
        f"{failover:.2f} s after the kill) -> {third_epoch} (SIGSTOP, new leader published "
        f"{takeover_at - paused_at:.2f} s after the freeze); runs per epoch {per_epoch}; "
        f"the thawed leader published {len(stale)} run(s); the window ended "
        f"{window_end - resumed_at:.1f} s after the thaw"
    )
    figures.values.update(tally.figures())
    figures["failover_after_kill_s"] = failover
    figures["takeover_after_sigstop_s"] = takeover_at - paused_at
    figures["runs_published_by_deposed_leader"] = len(stale)
    assert first_epoch < second_epoch < third_epoch
    assert resumed_at + 1 < window_end, "runs must still be due after the thaw"
    assert epochs == sorted(epochs), "a run with an older epoch was published after a newer one"
    assert not stale, "the deposed leader published after it was frozen past its lease"
    assert failover < SCHEDULER_LEASE_S + TAKEOVER_MARGIN_S
    assert all(p.alive for p in (standby, third, worker))
    tally.assert_nothing_lost_or_doubled()
    assert settle < 60


def _first_leader(racers: list[Proc]) -> tuple[Proc, int]:
    """The racer that won the lease, and its epoch; the other must not lead as well."""

    def winner() -> tuple[Proc, int] | None:
        for proc in racers:
            found = _epochs(proc)
            if found:
                return proc, found[0]
        return None

    proc, epoch = wait_until(winner, "one of the racers to take the lease", timeout=30)
    loser = next(p for p in racers if p is not proc)
    assert not _epochs(loser), "both racers took the lease"
    return proc, epoch


def _epochs(proc: Proc) -> list[int]:
    return [int(e) for e in re.findall(LEADER_LOG, proc.output())]


def _published(tap: RabbitTap, epoch: int, count: int) -> list[float]:
    """Wait for ``count`` runs of ``epoch`` at the tap; their arrival times."""

    def found() -> list[float]:
        return [a for a, r in tap.runs() if r.epoch == epoch]

    wait_until(
        lambda: len(found()) >= count, f"{count} runs published with epoch {epoch}", timeout=20
    )
    return found()
