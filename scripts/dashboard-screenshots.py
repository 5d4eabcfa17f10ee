"""Take the README's dashboard screenshots (docs/dashboard-*.png) from a live demo.

Runs the ``examples.demo`` app embedded (as ``dueq up`` does) with a few more schedules,
the kind that make a forecast worth looking at (nightly reports at 00:00, hourly syncs),
lets it work for a while so there are runs and a failure, then photographs the pages in
headless Chromium.  Run: ``.venv/bin/python scripts/dashboard-screenshots.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from dueq.embedded import EMBEDDED_BROKER_URL, Embedded, load_app
from dueq.producer.dashboard.server import DashboardServer
from dueq.producer.dashboard.views import Dashboard
from dueq.producer.deadletters import DeadLetters

DOCS = Path(__file__).resolve().parent.parent / "docs"
WORK_S = 25.0


def _more_jobs(embedded: Embedded) -> None:
    add = embedded.scheduler.add_job
    for region in ("eu", "us", "apac", "latam", "africa", "mena"):
        add("demo.add", "cron", hour=0, minute=0, args=[1, 2], id=f"report.{region}")
    for n in range(4):
        add("demo.tick", "cron", minute=n * 15, id=f"sync.{n}")
    add("demo.add", "interval", minutes=10, args=[3, 4], id="cache.refresh")


def main() -> None:
    # Names of this machine stay out of the pictures: fixed ids, a relative store path.
    os.environ["DUEQ_WORKER_ID"] = "worker-1"
    os.environ["DUEQ_SCHEDULER_ID"] = "scheduler-1"
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        embedded = Embedded(
            load_app("examples.demo"),
            database_url="sqlite:///dueq.sqlite3",
            listener=lambda event: None,
            listener_mask=0,
        )
        embedded.start()
        _more_jobs(embedded)
        scheduler = embedded.scheduler
        dead = DeadLetters(EMBEDDED_BROKER_URL, scheduler.settings.topology())
        server = DashboardServer(Dashboard(scheduler, dead), host="127.0.0.1", port=0)
        server.start()
        time.sleep(WORK_S)  # let the demo produce runs, failures and max_instances skips
        try:
            _shoot(server.url, scheduler)
        finally:
            server.stop()
            embedded.stop()


def _shoot(url: str, scheduler: Any) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1280,800"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.get(f"{url}/jobs")
        browser.save_screenshot(str(DOCS / "dashboard-jobs.png"))
        # The demo's every-few-seconds jobs would flatten the forecast: show the storms.
        for job_id in ("demo.cron", "demo.slow", "demo.interval", "demo.fail"):
            scheduler.pause_job(job_id)
        for page in ("forecast", "runs"):
            browser.get(f"{url}/{page}")
            browser.save_screenshot(str(DOCS / f"dashboard-{page}.png"))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
