"""The dashboard's login policy and its forecast arithmetic, without a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dueq.producer.dashboard import forecast as forecast_module
from dueq.producer.dashboard.auth import is_loopback, require_token
from dueq.producer.dashboard.forecast import forecast
from dueq.producer.job import Job
from dueq.shared.errors import ConfigError
from dueq.shared.triggers import IntervalTrigger

NOW = datetime(2026, 12, 6, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    assert require_token(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "dashboard.example.com"])
def test_beyond_loopback_the_dashboard_refuses_to_start_without_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="beyond loopback"):
        require_token(host, None)
    assert require_token(host, "a-long-enough-token") == "a-long-enough-token"


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        require_token("0.0.0.0", "short")


def _job(job_id: str, next_run: datetime | None, *, coalesce: bool = True) -> Job:
    return Job(
        id=job_id,
        name=job_id,
        func="m:f",
        trigger=IntervalTrigger(minutes=10, start_date=datetime(2026, 1, 1, tzinfo=UTC)),
        next_run_time=next_run,
        next_fire_time=next_run,
        coalesce=coalesce,
    )


def test_a_ten_minute_job_fires_every_ten_minutes_of_the_day_and_a_paused_one_not_at_all() -> None:
    first = datetime(2026, 12, 6, 12, 10, tzinfo=UTC)
    result = forecast([_job("a", first), _job("paused", None)], NOW)
    assert result.total == 143  # 12:10 to 11:50 the next day
    assert result.jobs == 1
    assert result.start == datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert result.per_minute[first] == 1
    assert max(result.per_minute) < result.start + timedelta(hours=24)


def test_overdue_runs_count_now_once_when_coalescing_and_each_otherwise() -> None:
    overdue = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)  # seven fire times behind NOW
    coalescing = forecast([_job("c", overdue)], NOW)
    every = forecast([_job("e", overdue, coalesce=False)], NOW)
    assert coalescing.per_minute[coalescing.start] == 1
    assert every.per_minute[every.start] == 7  # 11:00 to 12:00


def test_a_forecast_that_hits_its_walking_limit_says_it_is_truncated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forecast_module, "MAX_FIRES_PER_JOB", 10)
    first = datetime(2026, 12, 6, 12, 10, tzinfo=UTC)
    result = forecast([_job("a", first)], NOW)
    assert result.truncated
    assert result.total == 10
