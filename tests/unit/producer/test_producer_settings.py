"""Scheduler settings come from a settings object, a dict, keyword arguments or DUEQ_* env."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dueq.producer.settings import JobDefaults, SchedulerSettings, build_settings
from dueq.shared.errors import ConfigError


def test_defaults_are_the_ones_apscheduler_users_wish_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    settings = build_settings(None, None, {})
    assert settings.job_defaults == JobDefaults(
        misfire_grace_time=None, coalesce=True, max_instances=1, queue="default"
    )
    assert settings.timezone == "UTC"
    assert settings.lease_seconds == 15.0


def test_an_apscheduler_style_dict_is_accepted_with_or_without_prefixes() -> None:
    settings = build_settings(
        None,
        {
            "apscheduler.timezone": "Europe/Berlin",
            "apscheduler.job_defaults.coalesce": False,
            "job_defaults": {"max_instances": 3},
        },
        {},
    )
    assert settings.timezone == "Europe/Berlin"
    assert settings.job_defaults.coalesce is False
    assert settings.job_defaults.max_instances == 3


def test_keyword_arguments_override_the_dict() -> None:
    settings = build_settings(
        None,
        {"timezone": "Europe/Berlin", "job_defaults": {"coalesce": False}},
        {"timezone": "Asia/Tokyo", "job_defaults": {"queue": "reports"}},
    )
    assert settings.timezone == "Asia/Tokyo"
    assert settings.job_defaults.coalesce is False
    assert settings.job_defaults.queue == "reports"


def test_environment_variables_fill_what_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUEQ_TIMEZONE", "America/New_York")
    monkeypatch.setenv("DUEQ_LEASE_SECONDS", "4.5")
    monkeypatch.setenv("DUEQ_JOB_DEFAULTS__MISFIRE_GRACE_TIME", "30")
    settings = build_settings(None, None, {"lease_seconds": 2})
    assert settings.timezone == "America/New_York"
    assert settings.lease_seconds == 2
    assert settings.job_defaults.misfire_grace_time == 30


def test_a_settings_object_is_used_as_it_is() -> None:
    given = SchedulerSettings(scheduler_id="me")
    assert build_settings(given, None, {}) is given
    with pytest.raises(ConfigError, match="either"):
        build_settings(given, None, {"timezone": "UTC"})


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"jobstores": {"default": {"type": "mongodb"}}}, "mongodb"),
        ({"no_such_option": 1}, "no_such_option"),
        ({"job_defaults": {"max_instances": 0}}, "max_instances"),
        ({"job_defaults": {"queue": "bad queue"}}, "queue"),
        ({"lookahead_seconds": 6}, "lookahead_seconds"),
        ({"lookahead_seconds": -1}, "lookahead_seconds"),
        ({"history_retention": 0}, "history_retention"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        build_settings(None, None, options)


def test_scheduler_ids_differ_between_instances() -> None:
    assert SchedulerSettings().scheduler_id != SchedulerSettings().scheduler_id


def test_the_password_of_a_url_never_shows_in_the_settings() -> None:
    settings = build_settings(None, None, {"broker_url": "amqp://u:s3cret@host//"})
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings)


@pytest.mark.parametrize(
    ("text", "kept"), [("P30D", timedelta(days=30)), ("3600", timedelta(hours=1))]
)
def test_history_retention_reads_iso_8601_or_seconds_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, kept: timedelta
) -> None:
    monkeypatch.setenv("DUEQ_HISTORY_RETENTION", text)
    assert build_settings(None, None, {}).history_retention == kept


def test_lookahead_and_retention_default_to_a_quarter_second_and_a_week() -> None:
    settings = build_settings(None, None, {})
    assert settings.lookahead_seconds == 0.25
    assert settings.history_retention == timedelta(days=7)
