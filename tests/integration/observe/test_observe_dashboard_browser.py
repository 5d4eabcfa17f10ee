"""The dashboard in a real browser: headless Chromium from Debian's chromium-driver.

One browser for the module; each test serves a dashboard of its own over a real
PostgreSQL schema and RabbitMQ prefix.  The browser clicks what an operator clicks, and
the test checks the page and, behind it, the job store.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from dueq.shared.broker import (
    REASON_HEADER,
    SOURCE_QUEUE_HEADER,
    BrokerConnection,
    OutgoingMessage,
)
from dueq.shared.protocol import encode
from tests.integration.observe.conftest import DEADLINE_S, SiteFactory, StackFactory
from tests.jobs_for_tests.harness import JOBS, make_run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A password the store URL carries (PostgreSQL's trust login ignores it): no page may show it.
PASSWORD = "hunter2-never-shown"
# Reads and clicks of an element the live part replaced meanwhile are tried again this often:
# it is replaced every 2 s, so the second try finds the new one.
_STALE_RETRIES = 5


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium driven through Debian's chromedriver (nothing is downloaded)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            pytest.fail(
                f"{path} is missing: `make test` installs chromium and chromium-driver "
                "(apt-get, as root)",
                pytrace=False,
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _text(browser: WebDriver, css: str) -> str:
    """Text of the first element matching ``css`` ("" if none), read again if the page's
    live part (refreshed every 2 s) replaced it while it was being read."""
    for _ in range(_STALE_RETRIES):
        try:
            found = browser.find_elements(By.CSS_SELECTOR, css)
            return found[0].text if found else ""
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"{css} was replaced each time it was read")


def _click(browser: WebDriver, css: str) -> None:
    """Click the first element matching ``css``, found again if the live part replaced it
    between finding and clicking."""
    for _ in range(_STALE_RETRIES):
        try:
            browser.find_element(By.CSS_SELECTOR, css).click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"{css} was replaced each time it was clicked")


def _shows(browser: WebDriver, css: str, text: str) -> Callable[[], bool]:
    return lambda: text in _text(browser, css)


def _with_password(url: str) -> str:
    return url.replace(
        "postgresql+psycopg://postgres@", f"postgresql+psycopg://postgres:{PASSWORD}@"
    )


def test_every_page_loads_updates_live_and_never_shows_the_password(
    browser: WebDriver, serve_dashboard: SiteFactory, pg_schema_url: str
) -> None:
    site = serve_dashboard(database_url=_with_password(pg_schema_url))
    site.client.add_job(f"{JOBS}:add", "interval", minutes=5, id="first", args=[1, 2])
    for page, table in [("jobs", "#jobs"), ("forecast", "#grid"), ("runs", "#runs"),
                        ("workers", "#workers"), ("dead", "#dead")]:  # fmt: skip
        browser.get(f"{site.url}/{page}")
        assert browser.find_elements(By.CSS_SELECTOR, table), page
        assert "postgres:***@" in browser.page_source
        assert PASSWORD not in browser.page_source

    browser.get(f"{site.url}/jobs")
    site.client.add_job(f"{JOBS}:noop", "cron", hour=6, id="added-later")
    wait_until(_shows(browser, "#jobs", "added-later"), "the new job to appear", timeout=10)


def test_clicking_pause_shows_the_job_paused_and_the_store_agrees(
    browser: WebDriver, serve_dashboard: SiteFactory
) -> None:
    site = serve_dashboard()
    site.client.add_job(f"{JOBS}:noop", "interval", hours=1, id="nightly")
    browser.get(f"{site.url}/jobs")

    _click(browser, 'tr[data-job="nightly"] button.pause')

    wait_until(_shows(browser, 'tr[data-job="nightly"] td.state', "paused"), "paused", timeout=10)
    job = site.client.get_job("nightly")
    assert job is not None
    assert job.paused
    _click(browser, 'tr[data-job="nightly"] button.resume')
    wait_until(_shows(browser, 'tr[data-job="nightly"] td.state', "active"), "active", timeout=10)
    resumed = site.client.get_job("nightly")
    assert resumed is not None
    assert not resumed.paused


def test_a_failed_run_is_found_by_the_status_filter_and_shows_its_traceback(
    browser: WebDriver, start_stack: StackFactory, serve_dashboard: SiteFactory
) -> None:
    stack = start_stack()
    site = serve_dashboard()
    stack.scheduler.add_job(f"{JOBS}:fail", "date", run_date=datetime.now(UTC), args=["boom"],
                            id="breaks")  # fmt: skip
    stack.scheduler.add_job(f"{JOBS}:add", "date", run_date=datetime.now(UTC), args=[1, 1],
                            id="works")  # fmt: skip
    browser.get(f"{site.url}/runs")
    _click(browser, 'input[name="status"][value="error"]')
    _click(browser, "#apply-filter")

    wait_until(_shows(browser, "#runs", "breaks"), "the failed run listed", timeout=DEADLINE_S)
    assert "works" not in _text(browser, "#runs")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    browser.get(f"{site.url}/runs?status=error&since={tomorrow}")
    assert "No runs match" in _text(browser, "#runs")  # the time filter applies too
    browser.get(f"{site.url}/runs?status=error")
    _click(browser, "tr[data-run] a")
    # The click starts the run page's load; its traceback is there once it has loaded.
    wait_until(_shows(browser, "#traceback", "ValueError: boom"), "the traceback", timeout=10)
    assert "Traceback (most recent call last)" in _text(browser, "#traceback")


def test_the_forecast_counts_per_minute_match_the_triggers(
    browser: WebDriver, serve_dashboard: SiteFactory
) -> None:
    site = serve_dashboard()
    five = site.client.add_job(f"{JOBS}:noop", "cron", minute="*/5", id="every-5")
    seven = site.client.add_job(f"{JOBS}:noop", "interval", minutes=7, id="every-7")
    in_3h = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    site.client.add_job(f"{JOBS}:noop", "date", run_date=in_3h, id="once")
    site.client.add_job(f"{JOBS}:noop", "interval", minutes=1, id="paused-one")
    site.client.pause_job("paused-one")
    browser.get(f"{site.url}/forecast")

    cells: list[list[str]] = browser.execute_script(
        "return [...document.querySelectorAll('#grid td[data-minute]')]"
        ".map(c => [c.dataset.minute, c.dataset.count])"
    )
    shown = {minute: int(count) for minute, count in cells}
    start = datetime.strptime(min(shown), "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    assert five.next_run_time is not None
    assert five.next_run_time.minute % 5 == 0
    assert seven.next_run_time is not None
    expected: dict[str, int] = {}
    fires = _steps(five.next_run_time, start, 5) + _steps(seven.next_run_time, start, 7)
    for moment in [*fires, in_3h]:
        key = max(moment, start).strftime("%Y-%m-%dT%H:%MZ")
        expected[key] = expected.get(key, 0) + 1
    assert len(cells) == 24 * 60
    assert {k: v for k, v in shown.items() if v} == expected
    assert _text(browser, "#forecast-total") == str(sum(expected.values()))


def _steps(first: datetime, start: datetime, minutes: int) -> list[datetime]:
    """Every ``minutes`` from ``first`` until 24 hours after ``start``."""
    times, moment = [], first
    while moment < start + timedelta(hours=24):
        times.append(moment)
        moment += timedelta(minutes=minutes)
    return times


def test_beyond_loopback_the_pages_need_the_login_token(
    browser: WebDriver, serve_dashboard: SiteFactory
) -> None:
    token = "t0ken-for-the-browser-test"
    site = serve_dashboard(host="0.0.0.0", token=token)
    site.client.add_job(f"{JOBS}:noop", "interval", hours=1, id="secret-job")

    browser.delete_all_cookies()
    browser.get(f"{site.url}/jobs")
    assert "login token is required" in browser.page_source
    assert "secret-job" not in browser.page_source
    browser.get(f"{site.url}/jobs?token=wrong-token-of-enough-length")
    assert "secret-job" not in browser.page_source

    browser.get(f"{site.url}/jobs?token={token}")
    assert "secret-job" in _text(browser, "#jobs")
    assert "token" not in browser.current_url  # the cookie carries it from here on
    browser.get(f"{site.url}/runs")
    assert browser.find_elements(By.CSS_SELECTOR, "#runs")
    browser.delete_all_cookies()


def test_the_workers_page_shows_a_live_worker_with_its_capacity(
    browser: WebDriver, start_stack: StackFactory, serve_dashboard: SiteFactory
) -> None:
    stack = start_stack(worker_options={"concurrency": 3})
    site = serve_dashboard()
    browser.get(f"{site.url}/workers")

    row = f'tr[data-worker="{stack.worker.worker_id}"]'
    wait_until(_shows(browser, row, "live"), "the worker shown live", timeout=DEADLINE_S)
    assert "0/3" in _text(browser, row)


def test_a_dead_letter_is_listed_with_its_reason_and_replayed_by_a_click(
    browser: WebDriver, serve_dashboard: SiteFactory, rabbitmq_url: str
) -> None:
    site = serve_dashboard()
    topology = site.client.settings.topology()
    run = make_run(f"{JOBS}:noop")
    with BrokerConnection(rabbitmq_url) as connection:
        connection.declare_topology(topology, ["default"])
        connection.publisher().publish(
            OutgoingMessage(
                body=encode(run),
                exchange=topology.dead_letter_exchange,
                routing_key="default",
                message_id=run.run_id,
                reply_to=topology.events_queue,
                headers={REASON_HEADER: "function not allowed: demo",
                         SOURCE_QUEUE_HEADER: topology.run_queue("default")},
            )
        )  # fmt: skip
        browser.get(f"{site.url}/dead")
        row = f'tr[data-dead="{run.run_id}"]'
        assert "function not allowed" in _text(browser, f"{row} td.reason")

        _click(browser, f"{row} button.replay")

        wait_until(lambda: not _text(browser, row), "the replayed row to go", timeout=10)
        assert connection.queue_depth(topology.run_queue("default")) == 1
        assert connection.queue_depth(topology.dead_letter_queue) == 0
