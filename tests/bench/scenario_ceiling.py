"""Scenario 0, the broker's own ceiling: what any client could do on this machine.

Measured on a quorum queue (dueq's run queues) and, for orientation, a classic one.  The
burst and worker scenarios compare dueq with the quorum numbers measured here.
"""

from __future__ import annotations

from tests.bench import references
from tests.bench.model import Better, Context, Row, ScenarioResult

__all__ = ["run"]

_METRICS = (
    ("publish_no_confirms_per_s", "publish, no confirms"),
    ("publish_pipelined_per_s", "publish, pipelined confirms (1000 in flight)"),
    ("publish_each_confirm_per_s", "publish, waiting for each confirm"),
    ("consume_ack_per_s", "consume + ack, prefetch 100"),
)


def run(ctx: Context) -> ScenarioResult:
    """Both queue types; the rows carry reference values only."""
    result = ScenarioResult(name="ceiling")
    for queue_type in ("quorum", "classic"):
        numbers = references.ceiling(ctx, queue_type)
        result.raw[queue_type] = numbers
        for key, label in _METRICS:
            result.rows.append(
                Row(scenario=f"broker ceiling ({queue_type})", metric=label, unit="msg/s",
                    better=Better.HIGHER, reference="py-amqp, 200 B persistent",
                    ref_value=float(numbers[key]))
            )  # fmt: skip
    return result
