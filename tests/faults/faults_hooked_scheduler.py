"""A scheduler service that kills itself (SIGKILL) between publishing and committing.

Started by the scheduler-kill test as a plain script, configured like ``dueq scheduler``
by DUEQ_* variables.  ``FAULTS_KILL_AT_BATCH=n``: after the n-th batch the broker has
confirmed, and before the store commits it, the process prints the batch's run ids as
one JSON line and sends itself SIGKILL: a crash at the worst possible moment.  With
``FAULTS_KILL_PID=pid`` it kills that process instead (once), and carries on.
"""

from __future__ import annotations

import json
import logging
import os
import signal

from dueq.producer import BlockingScheduler
from dueq.shared.protocol.runbytes import EncodedRun
from dueq.shared.retry import call_with_retry

logger = logging.getLogger("faults.hooked_scheduler")


def main() -> None:
    """Run the scheduler until the configured batch, then die."""
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    kill_at = int(os.environ["FAULTS_KILL_AT_BATCH"])
    # Another process to kill at that moment instead (the database's postmaster), once.
    victim = int(os.environ.get("FAULTS_KILL_PID", "0"))
    batches = 0

    def after_publish(runs: list[EncodedRun]) -> None:
        nonlocal batches
        batches += 1
        if batches != kill_at:
            return
        print(json.dumps({"killed_after_publish": [r.run_id for r in runs]}), flush=True)
        # The commit that follows meets a dead database (or never happens).
        os.kill(victim or os.getpid(), signal.SIGKILL)

    scheduler = BlockingScheduler(after_publish=after_publish)
    # SIGTERM stops it cleanly, as it does ``dueq scheduler``.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: scheduler.shutdown(wait=False))
    call_with_retry("database", logger, scheduler.open)
    scheduler.start()


if __name__ == "__main__":
    main()
