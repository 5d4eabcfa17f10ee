"""The hot-path spellings of ``format_utc`` and ``make_run_id`` give what the library calls gave."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dueq.shared.protocol import RUN_ID_NAMESPACE, make_run_id
from dueq.shared.protocol.types import format_utc

_REFERENCE = "%Y-%m-%dT%H:%M:%S.%fZ"
_ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=5, minutes=30)),
        timezone(-timedelta(hours=11)),
        ZoneInfo("Europe/Paris"),
        ZoneInfo("UTC"),
    ]
)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES)
)
def test_format_utc_matches_strftime_for_any_zone_and_year(value: datetime) -> None:
    assert format_utc(value) == value.astimezone(UTC).strftime(_REFERENCE)


def test_format_utc_pads_microseconds_and_ends_in_z() -> None:
    value = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert format_utc(value) == "2026-01-02T02:04:05.000000Z"


@given(st.text(min_size=1, max_size=300), st.datetimes(timezones=_ZONES))
def test_run_ids_are_the_uuid5_of_job_and_time(job_id: str, at: datetime) -> None:
    name = f"{job_id}\n{at.astimezone(UTC).strftime(_REFERENCE)}"
    try:
        expected = str(uuid.uuid5(RUN_ID_NAMESPACE, name))
    except UnicodeEncodeError:  # lone surrogates: refused by both
        with pytest.raises(UnicodeEncodeError):
            make_run_id(job_id, at)
        return
    assert make_run_id(job_id, at) == expected
