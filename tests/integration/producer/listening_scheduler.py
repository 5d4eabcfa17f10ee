"""A scheduler process whose listener prints every job event it hears as a JSON line.

Started by the listeners test, configured by the DUEQ_* environment; prints
``{"listening": true}`` once its listeners are connected, then one line per event, and
shuts down cleanly (delivering what it heard) on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

from dueq import EVENT_ALL, BackgroundScheduler, JobExecutionEvent, SchedulerEvent
from tests.support.waiting import wait_until


def report(event: SchedulerEvent) -> None:
    if isinstance(event, JobExecutionEvent):
        print(json.dumps({"code": event.code, "run_id": event.run_id}), flush=True)


def main() -> None:
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    scheduler = BackgroundScheduler()
    scheduler.add_listener(report, EVENT_ALL)
    scheduler.start()
    wait_until(lambda: scheduler.listening, "listeners connected", timeout=60)
    print(json.dumps({"listening": True}), flush=True)
    stop.wait()
    scheduler.shutdown()


if __name__ == "__main__":
    main()
