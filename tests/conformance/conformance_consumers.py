"""The consumers the conformance kit drives, as command lines, and the queue they serve.

Add a consumer here to hold it to the protocol: an argv with ``{url}``, ``{prefix}`` and
``{queue}`` placeholders, the environment it needs, and how to make it beat fast.

Or, without editing anything, give one on the command line (see README.md here)::

    DUEQ_CONFORMANCE_CONSUMER='ruby my_worker.rb --url {url} --prefix {prefix} --queue {queue}' \
    DUEQ_CONFORMANCE_FAST_HEARTBEAT='--heartbeat-interval 0.5' \
    .venv/bin/pytest tests/conformance

The kit then drives that consumer alone.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.conformance.conformance_kit import SIGNING_KEY
from tests.conformance.conformance_process import REPO, ConsumerSpec

__all__ = ["BUILT_IN", "CONSUMERS", "QUEUE", "external_consumer"]

_HERE = Path(__file__).resolve().parent

# The job queue every conformance consumer serves.
QUEUE = "conformance"

# Half a second: often enough that the heartbeat test waits for one without slowing down.
_FAST_HEARTBEAT = ["--heartbeat-interval", "0.5"]

_PLACEHOLDERS = ["--url", "{url}", "--prefix", "{prefix}", "--queue", "{queue}"]
# Every consumer verifies runs and signs events with the kit's key.
_SIGNING = {"DUEQ_SIGNING_KEY": SIGNING_KEY}

BUILT_IN = [
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


def external_consumer(environ: Mapping[str, str]) -> ConsumerSpec | None:
    """The consumer named by ``DUEQ_CONFORMANCE_CONSUMER``, if set (a shell-quoted argv)."""
    command = environ.get("DUEQ_CONFORMANCE_CONSUMER", "").strip()
    if not command:
        return None
    argv = shlex.split(command)
    missing = [p for p in ("{url}", "{prefix}", "{queue}") if not any(p in a for a in argv)]
    if missing:
        raise ValueError(f"DUEQ_CONFORMANCE_CONSUMER lacks the placeholders {', '.join(missing)}")
    return ConsumerSpec(
        name=environ.get("DUEQ_CONFORMANCE_NAME", "external"),
        argv=argv,
        fast_heartbeat_argv=shlex.split(environ.get("DUEQ_CONFORMANCE_FAST_HEARTBEAT", "")),
    )


_EXTERNAL = external_consumer(os.environ)
# What the kit drives: the consumer given on the command line, else the built-in ones.
CONSUMERS = [_EXTERNAL] if _EXTERNAL is not None else BUILT_IN
