"""The scheduler logs one INFO line per published batch, naming how many runs of which jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from dueq.shared.triggers import IntervalTrigger
from tests.unit.producer.test_producer_loop import T0, Rig


def test_a_published_batch_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    for index in range(7):
        rig.add(f"job-{index}", IntervalTrigger(seconds=10, start_date=T0))
    rig.clock.advance(10)
    with caplog.at_level(logging.INFO, logger="dueq.producer.loop"):
        rig.loop.tick()
    [line] = [r for r in caplog.records if r.name == "dueq.producer.loop"]
    assert line.levelno == logging.INFO
    assert line.getMessage() == ("published 7 runs of job-0, job-1, job-2, job-3, job-4 and 2 more")


def test_a_tick_with_nothing_due_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.add("later", IntervalTrigger(hours=1, start_date=T0 + timedelta(hours=1)))
    with caplog.at_level(logging.INFO, logger="dueq.producer.loop"):
        rig.loop.tick()
    assert not [r for r in caplog.records if r.name == "dueq.producer.loop"]
