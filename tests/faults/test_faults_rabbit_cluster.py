"""Guarantee: a three-node RabbitMQ cluster keeps serving, losing and doubling no run,
when its nodes die one after the other.

The scheduler and the worker get the cluster as a failover URL (``amqp://n1;amqp://n2;
amqp://n3``, each in another order, so they sit on different nodes); the run queue is a
quorum queue replicated on all three.  While runs are due, three nodes are killed with
kill -9, one at a time, each restarted before the next dies (a quorum needs two of three):
first the node leading the run queue, then the node the scheduler is connected to, then
the worker's node.  After each kill, runs must execute again (the quorum elects a new
leader; clients reconnect to a live node), and in the end every run-time executed
exactly once.
"""

from __future__ import annotations

import re

from tests.faults.conftest import RigOn
from tests.faults.faults_procs import Proc
from tests.faults.faults_rabbit import RabbitCluster, RabbitNode
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, Rig, interval_jobs, soon
from tests.support.waiting import wait_until

JOBS, EVERY_S = 3, 0.25
LEAD_S = 3.0
SCHEDULER_NODE_LOG = r"scheduler connected to amqp://[^@]*@127\.0\.0\.1:(\d+)"
WORKER_NODE_LOG = r"consuming default at amqp://[^@]*@127\.0\.0\.1:(\d+)"


def test_killing_three_cluster_nodes_in_turn_loses_and_doubles_no_run(
    rig_on: RigOn, rabbit_cluster: RabbitCluster, figures: Figures
) -> None:
    n1, n2, n3 = rabbit_cluster.nodes
    rig = rig_on(";".join(n.url for n in (n1, n2, n3)))
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    worker = rig.worker("worker", broker_url=";".join(n.url for n in (n3, n1, n2)))
    scheduler = rig.scheduler("scheduler", broker_url=";".join(n.url for n in (n2, n3, n1)))
    rig.wait_consuming(worker)
    wait_until(lambda: len(rig.ledger.executions()) >= 2 * JOBS, "steady runs", timeout=30)

    recoveries: dict[str, float] = {}
    leader = _queue_leader(rabbit_cluster, rig, ask=n2)
    recoveries["run_queue_leader"] = _kill_and_restart(rig, rabbit_cluster, leader)
    on_scheduler = rabbit_cluster.node_of(_last_port(scheduler, SCHEDULER_NODE_LOG))
    recoveries["scheduler_node"] = _kill_and_restart(rig, rabbit_cluster, on_scheduler)
    on_worker = rabbit_cluster.node_of(_last_port(worker, WORKER_NODE_LOG))
    killed_worker_node = on_worker.node
    recoveries["worker_node"] = _kill_and_restart(rig, rabbit_cluster, on_worker)

    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=60)
    tally = rig.tally()
    print(tally.line())
    print(
        f"killed in turn: the run queue's leader {leader.node}, the scheduler's node "
        f"{on_scheduler.node}, the worker's node {killed_worker_node}; a run scheduled after "
        "the kill executed "
        + ", ".join(f"{what} {s:.2f} s" for what, s in recoveries.items())
        + " after each kill"
    )
    figures.values.update(tally.figures())
    figures["node_kills"] = len(recoveries)
    for what, seconds in recoveries.items():
        figures[f"recovery_after_killing_{what}_s"] = seconds
    figures["settle_s"] = settle
    assert worker.alive
    tally.assert_nothing_lost_or_doubled()


def _queue_leader(cluster: RabbitCluster, rig: Rig, *, ask: RabbitNode) -> RabbitNode:
    """The node leading the run queue (a quorum queue), as the cluster reports it."""
    queue = rig.topology.run_queue("default")
    listing = ask.ctl("list_queues", "name", "leader", "--no-table-headers", "--quiet")
    for line in listing.splitlines():
        name, _, leader = line.partition("\t")
        if name.strip() == queue:
            return next(n for n in cluster.nodes if n.node == leader.strip())
    raise AssertionError(f"no leader listed for {queue}:\n{listing}")


def _last_port(proc: Proc, pattern: str) -> int:
    ports = re.findall(pattern, proc.output())
    assert ports, f"{proc.name} never said which node it is connected to"
    return int(ports[-1])


def _kill_and_restart(rig: Rig, cluster: RabbitCluster, node: RabbitNode) -> float:
    """kill -9 ``node``; restart it.  Returns the recovery time: seconds from the kill to
    the first execution of a run *scheduled* after it (published after the kill, so it
    went through scheduler, queue and worker as they were after the failover).
    """
    killed_at = node.kill()
    first = wait_until(
        lambda: next(
            (
                e.started_at
                for e in rig.ledger.executions()
                if e.scheduled_at.timestamp() > killed_at
            ),
            0,
        ),
        f"a run scheduled after {node.node} was killed to execute",
        timeout=45,
        describe=lambda: _queues_seen_by(next(n for n in cluster.nodes if n is not node)),
    )
    node.spawn()
    # A quorum needs two of three: the next kill waits until this node is back in every
    # quorum of the test's queues (accepting connections is not enough).
    node.wait_ready()
    wait_until(
        lambda: _all_members_online(rig, node),
        f"{node.node} to rejoin the quorum queues",
        timeout=60,
    )
    return float(first - killed_at)


def _queues_seen_by(node: RabbitNode) -> str:
    """The cluster's view of the queues, for a failure message."""
    columns = ("name", "leader", "online", "messages", "consumers")
    return "\n" + node.ctl("list_queues", *columns, "--no-table-headers", "--quiet")


def _all_members_online(rig: Rig, node: RabbitNode) -> bool:
    """True once every queue of the test's prefix has all of its members online."""
    listing = node.ctl("list_queues", "name", "members", "online", "--no-table-headers", "--quiet")
    rows = [line.split("\t") for line in listing.splitlines()]
    mine = [row for row in rows if row[0].startswith(rig.topology.prefix) and len(row) == 3]
    return bool(mine) and all(row[1].count("@") == row[2].count("@") for row in mine)
