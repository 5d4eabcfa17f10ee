"""The consumers the conformance kit drives, as command lines, and the queue they serve.

Add a consumer here to hold it to the protocol: an argv with ``{url}``, ``{prefix}`` and
``{queue}`` placeholders, the environment it needs, and how to make it beat fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conformance.conformance_kit import SIGNING_KEY
from tests.conformance.conformance_process import REPO, ConsumerSpec

__all__ = ["CONSUMERS", "QUEUE"]

_HERE = Path(__file__).resolve().parent

# The job queue every conformance consumer serves.
QUEUE = "conformance"

# Half a second: often enough that the heartbeat test waits for one without slowing down.
_FAST_HEARTBEAT = ["--heartbeat-interval", "0.5"]

_PLACEHOLDERS = ["--url", "{url}", "--prefix", "{prefix}", "--queue", "{queue}"]
# Every consumer verifies runs and signs events with the kit's key.
_SIGNING = {"DUEQ_SIGNING_KEY": SIGNING_KEY}

CONSUMERS = [
    ConsumerSpec(
        name="pika",
        argv=[sys.executable, "-m", "examples.pika_worker", *_PLACEHOLDERS],
        env=_SIGNING,
        fast_heartbeat_argv=_FAST_HEARTBEAT,
    ),
    ConsumerSpec(
        name="node",
        argv=["node", str(REPO / "examples" / "node_worker" / "worker.js"), *_PLACEHOLDERS],
        env=_SIGNING,
        fast_heartbeat_argv=_FAST_HEARTBEAT,
    ),
    ConsumerSpec(
        name="dueq-worker",
        argv=[
            str(Path(sys.executable).parent / "dueq"),
            "worker",
            "--queue",
            "{queue}",
            "--prefix",
            "{prefix}",
            "--broker-url",
            "{url}",
            "--import",
            "conformance_jobs",
        ],
        env={"PYTHONPATH": str(_HERE), **_SIGNING},
        fast_heartbeat_env={"DUEQ_HEARTBEAT_INTERVAL": "0.5"},
    ),
]
