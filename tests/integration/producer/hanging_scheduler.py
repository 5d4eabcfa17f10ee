"""A scheduler process that stops for good between publishing and committing.

Started by the crash tests, which kill it with SIGKILL while it hangs: configured by the
DUEQ_* environment; prints the run ids of the batch it published as one JSON line.
"""

from __future__ import annotations

import json
import threading

from dueq.producer import BlockingScheduler
from dueq.shared.protocol.runbytes import EncodedRun


def hang(runs: list[EncodedRun]) -> None:
    print(json.dumps([run.run_id for run in runs]), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    BlockingScheduler(after_publish=hang).start()
