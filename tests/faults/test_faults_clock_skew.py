"""Guarantee: schedulers whose clocks disagree by 30 s never share the lease.

Three schedulers share one database: one whose clock runs 30 s behind starts first and
leads (the jobs were added on its clock, so its runs come due while it leads); one 30 s
ahead and one on time stand by.  Were the lease compared on each host's
clock, the one ahead would see the live lease as expired at once (and so would the one on
time: the leader behind writes expiries 30 s in the past), and two leaders would publish.
The lease is compared on PostgreSQL's clock, so for several lease periods the leader
behind stays the only one publishing.  Then it is frozen past its lease (SIGSTOP): a
standby takes over (and publishes what is left at once: on its clock all of it is due),
and once thawed the leader behind must publish nothing more (no run of its epoch is
enqueued after the successor's first).  The takeover must not take as long as the skew
(it would, were any clock but the database's compared); its exact time is a figure.  The
clock offsets go in through the scheduler's clock hook (see faults_skewed_scheduler.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from dueq.shared.protocol import RunRequest
from tests.faults.faults_procs import Proc
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, SCHEDULER_LEASE_S, Rig, interval_jobs, soon
from tests.support.waiting import wait_until

SKEWED_SCHEDULER = Path(__file__).with_name("faults_skewed_scheduler.py")
SKEW_S = 30.0
JOBS, EVERY_S = 3, 0.25
LEAD_S = 4.0
LEADER_LOG = r"is the leader \(epoch (\d+)\)"
# How long (at least) the standbys are watched while the leader behind is live: three
# lease periods, each with a renewal attempt of every standby.  The observation is the check.
WATCH_S = 3 * SCHEDULER_LEASE_S
# Deadline of each wait: only a stuck deployment takes this long, on any host.
STUCK_S = 60.0


def test_schedulers_30_s_apart_never_lead_together(rig: Rig, figures: Figures) -> None:
    tap = rig.tap_runs()
    # The jobs are added on the leader's clock, so that its runs come due while it leads.
    start = soon(LEAD_S - SKEW_S)
    jobs = interval_jobs(JOBS, every=EVERY_S, start=start, window=OPEN_WINDOW_S)
    rig.add_open_jobs(jobs, clock_offset=-SKEW_S)
    worker = rig.worker("worker")
    behind = _skewed(rig, "behind", -SKEW_S)
    behind_epoch = int(behind.wait_for_log(LEADER_LOG, timeout=STUCK_S))
    standbys = [_skewed(rig, "ahead", SKEW_S), _skewed(rig, "on-time", 0.0)]
    for standby in standbys:
        standby.wait_for_log(r"scheduler connected to", timeout=STUCK_S)
    rig.wait_consuming(worker)
    wait_until(
        lambda: _count(tap.runs(), behind_epoch) > 0 or any(_epochs(p) for p in standbys),
        "runs of the leader (or a takeover)",
        timeout=STUCK_S,
    )

    # The standbys try to renew against a live lease meanwhile: the watch lasts WATCH_S,
    # and until the leader was seen publishing during it (a starved host may delay both).
    seen_before = len(tap.runs())
    watch_began = time.time()
    wait_until(
        lambda: time.time() >= watch_began + WATCH_S and len(tap.runs()) > seen_before,
        "the leader to publish while the standbys are watched",
        timeout=STUCK_S,
    )
    takeovers_while_live = [p.name for p in standbys if _epochs(p)]
    published_while_watched = [r.epoch for _, r in tap.runs()[seen_before:]]
    assert not takeovers_while_live, f"{takeovers_while_live} took over a live lease"

    paused_at = behind.pause()
    successor = wait_until(
        lambda: next((p for p in standbys if _epochs(p)), None),
        "a standby to take the frozen leader's lease",
        timeout=STUCK_S,
    )
    new_epoch = _epochs(successor)[0]
    takeover_at = wait_until(
        lambda: next((a for a, r in tap.runs() if r.epoch == new_epoch), None),
        "the successor's first run",
        timeout=STUCK_S,
    )
    behind.resume()
    behind.wait_for_log(r"no longer the leader|lost the leader lease", timeout=STUCK_S)
    # The thawed leader has had its chance to publish; the new one goes on meanwhile.
    more = _count(tap.runs(), new_epoch) + JOBS
    wait_until(
        lambda: _count(tap.runs(), new_epoch) >= more,
        "the successor to publish on while the thawed leader runs",
        timeout=STUCK_S,
    )
    rig.stop_and_expect_committed(behind, *standbys)
    # The successor published a minute of runs at once: some meet max_instances, which
    # only the history records, so a leader must go on recording.
    rig.keep_history()
    settle = rig.wait_drained(timeout=STUCK_S)
    rig.wait_tap_caught_up(tap, timeout=STUCK_S)

    tally = rig.tally(tap=tap)
    epochs = [r.epoch for _, r in tap.runs()]
    stale = epochs[epochs.index(new_epoch) :].count(behind_epoch)
    print(tally.line())
    print(
        f"leader 30 s behind (epoch {behind_epoch}) kept the lease for {WATCH_S:.0f} s against "
        f"standbys 30 s ahead and on time; after the freeze {successor.name} took over "
        f"(epoch {new_epoch}) and published {takeover_at - paused_at:.2f} s later; the thawed "
        f"leader published {stale} run(s) after its successor's first; settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["takeovers_of_a_live_lease"] = len(takeovers_while_live)
    figures["takeover_after_sigstop_s"] = takeover_at - paused_at
    figures["runs_published_by_deposed_leader"] = stale
    assert published_while_watched, "the leader behind published nothing while watched"
    assert set(published_while_watched) == {behind_epoch}, "two leaders published at once"
    assert not stale, "the leader behind published after losing its lease"
    # Load delays a takeover by seconds; a clock compared wrongly, by the 30 s skew.
    assert takeover_at - paused_at < SKEW_S, "the takeover waited out a skewed clock"
    tally.assert_nothing_lost_or_doubled()


def _skewed(rig: Rig, name: str, offset_s: float) -> Proc:
    env = {
        "DUEQ_BROKER_URL": rig.broker_url,
        "DUEQ_DATABASE_URL": rig.database_url,
        "DUEQ_PREFIX": rig.topology.prefix,
        "DUEQ_LEASE_SECONDS": str(SCHEDULER_LEASE_S),
        "DUEQ_MAX_SLEEP_SECONDS": "1",
        "DUEQ_SCHEDULER_ID": f"skewed-{name}",
        "FAULTS_CLOCK_OFFSET_S": str(offset_s),
    }
    return rig.procs.script(name, SKEWED_SCHEDULER, env)


def _epochs(proc: Proc) -> list[int]:
    return [int(e) for e in re.findall(LEADER_LOG, proc.output())]


def _count(arrivals: list[tuple[float, RunRequest]], epoch: int) -> int:
    return sum(1 for _, run in arrivals if run.epoch == epoch)
