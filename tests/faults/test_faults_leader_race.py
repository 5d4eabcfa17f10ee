"""Guarantee: two schedulers never publish the same run, and a deposed leader stays quiet.

Two ``dueq scheduler`` processes start together against one database and race for the
lease.  The winner is killed (kill -9): the other takes over.  A third process joins as
the new standby.  Then the leader is frozen (SIGSTOP) until the standby has taken the
lease over and published with the next epoch, and thawed (SIGCONT): it must notice it
lost the lease and publish nothing more.  The jobs are open-ended: the schedulers are
stopped when the faults are done, and the drain expects what they committed.

Every RunRequest carries its leader's epoch; the tap sees them in the order the broker
enqueued them, so "the stale leader published nothing after losing the lease" reads: the
epochs the tap saw never go down, and no message of the frozen leader's epoch comes
after the first one of its successor.  How long each takeover took is a figure.
"""

from __future__ import annotations

import re

from tests.faults.faults_procs import Proc
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, Rig, interval_jobs, soon
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

JOBS, EVERY_S = 3, 0.25
LEAD_S = 4.0
LEADER_LOG = r"is the leader \(epoch (\d+)\)"
# Runs each leader must have published before the next fault: proof that it dispatches.
RUNS_PER_PHASE = 4
# Deadline of each wait: only a stuck deployment takes this long, on any host.
STUCK_S = 60.0


def test_racing_schedulers_never_double_a_run_and_a_deposed_leader_publishes_nothing(
    rig: Rig, figures: Figures
) -> None:
    tap = rig.tap_runs()
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    worker = rig.worker("worker")
    rig.wait_consuming(worker)
    racers = [rig.scheduler(f"racer-{n}", scheduler_id=f"race-{n}") for n in "ab"]

    first, first_epoch = _first_leader(racers)
    standby = next(p for p in racers if p is not first)
    _published(tap, first_epoch, RUNS_PER_PHASE)
    killed_at = first.kill()
    second_epoch = int(standby.wait_for_log(LEADER_LOG, timeout=STUCK_S))
    failover = _published(tap, second_epoch, 1)[0] - killed_at

    third = rig.scheduler("racer-c", scheduler_id="race-c")
    third.wait_for_log(r"scheduler connected to", timeout=STUCK_S)
    _published(tap, second_epoch, RUNS_PER_PHASE)
    paused_at = standby.pause()
    third_epoch = int(third.wait_for_log(LEADER_LOG, timeout=STUCK_S))
    takeover_at = _published(tap, third_epoch, RUNS_PER_PHASE)[0]
    standby.resume()
    standby.wait_for_log(r"no longer the leader|lost the leader lease", timeout=STUCK_S)
    # The thawed leader has had its chance to publish; the new one goes on meanwhile.
    _published(tap, third_epoch, len(_arrivals(tap, third_epoch)) + RUNS_PER_PHASE)
    assert all(p.alive for p in (standby, third, worker))
    rig.stop_and_expect_committed(standby, third)
    settle = rig.wait_drained(timeout=STUCK_S)
    rig.wait_tap_caught_up(tap, timeout=STUCK_S)

    tally = rig.tally(tap=tap)
    epochs = [run.epoch for _, run in tap.runs()]
    successor_from = epochs.index(third_epoch)
    stale = epochs[successor_from:].count(second_epoch)
    per_epoch = {e: epochs.count(e) for e in sorted(set(epochs))}
    print(tally.line())
    print(
        f"epochs {first_epoch} -> {second_epoch} (kill -9, first run of the new leader "
        f"{failover:.2f} s after the kill) -> {third_epoch} (SIGSTOP, new leader published "
        f"{takeover_at - paused_at:.2f} s after the freeze); runs per epoch {per_epoch}; "
        f"the thawed leader published {stale} run(s) after its successor's first; "
        f"settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["failover_after_kill_s"] = failover
    figures["takeover_after_sigstop_s"] = takeover_at - paused_at
    figures["runs_published_by_deposed_leader"] = stale
    assert first_epoch < second_epoch < third_epoch
    assert epochs == sorted(epochs), "a run with an older epoch was published after a newer one"
    assert not stale, "the deposed leader published after its successor took over"
    tally.assert_nothing_lost_or_doubled()


def _first_leader(racers: list[Proc]) -> tuple[Proc, int]:
    """The racer that won the lease, and its epoch; the other must not lead as well."""

    def winner() -> tuple[Proc, int] | None:
        for proc in racers:
            found = _epochs(proc)
            if found:
                return proc, found[0]
        return None

    proc, epoch = wait_until(winner, "one of the racers to take the lease", timeout=STUCK_S)
    loser = next(p for p in racers if p is not proc)
    assert not _epochs(loser), "both racers took the lease"
    return proc, epoch


def _epochs(proc: Proc) -> list[int]:
    return [int(e) for e in re.findall(LEADER_LOG, proc.output())]


def _arrivals(tap: RabbitTap, epoch: int) -> list[float]:
    """Arrival times of the runs of ``epoch`` at the tap so far."""
    return [a for a, r in tap.runs() if r.epoch == epoch]


def _published(tap: RabbitTap, epoch: int, count: int) -> list[float]:
    """Wait for ``count`` runs of ``epoch`` at the tap; their arrival times."""
    wait_until(
        lambda: len(_arrivals(tap, epoch)) >= count,
        f"{count} runs published with epoch {epoch}",
        timeout=STUCK_S,
    )
    return _arrivals(tap, epoch)
