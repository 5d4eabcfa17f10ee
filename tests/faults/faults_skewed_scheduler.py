"""A scheduler service whose clock is ``FAULTS_CLOCK_OFFSET_S`` seconds off (+ ahead, - behind).

Started by the clock-skew test as a plain script, configured like ``dueq scheduler`` by
DUEQ_* variables.  The offset goes in through the scheduler's ``clock`` hook rather than
libfaketime: under Debian's faketime 0.9.10, Python 3.11+ either hangs in
``threading.Event.wait`` (faked monotonic clock) or fails ``time.sleep`` with EINVAL
(``DONT_FAKE_MONOTONIC=1``), so a faked process could not run at all.  The hook skews
exactly what a wrong host clock skews in dueq: every ``now`` the scheduler computes with.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import UTC, datetime, timedelta

from dueq.producer import BlockingScheduler
from dueq.shared.retry import call_with_retry

logger = logging.getLogger("faults.skewed_scheduler")


def main() -> None:
    """Run the scheduler on the skewed clock until killed."""
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    offset = timedelta(seconds=float(os.environ["FAULTS_CLOCK_OFFSET_S"]))

    def skewed_clock() -> datetime:
        return datetime.now(UTC) + offset

    scheduler = BlockingScheduler(clock=skewed_clock)
    # SIGTERM stops it cleanly, as it does ``dueq scheduler``.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: scheduler.shutdown(wait=False))
    call_with_retry("database", logger, scheduler.open)
    scheduler.start()


if __name__ == "__main__":
    main()
