"""Calling a job and capturing its outcome as plain, wire-ready values."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

from dueq.shared.protocol import (
    MAX_TRACEBACK_CHARS,
    Event,
    JobError,
    JobExecuted,
    RunRequest,
    decode_event,
)
from dueq.shared.topology import Topology
from dueq.worker.reporter import Identity, Reporter
from dueq.worker.runner import (
    MAX_RETVAL_BYTES,
    MAX_RETVAL_REPR_CHARS,
    Outcome,
    invoke,
    invoke_async,
    without_details,
)


def test_a_json_return_value_is_kept_as_json() -> None:
    outcome = invoke(lambda a, b: {"sum": a + b, "items": (1, 2)}, [1, 2], {})
    assert outcome.retval == {"sum": 3, "items": [1, 2]}
    assert outcome.retval_is_repr is False
    assert not outcome.failed
    assert outcome.finished_at >= outcome.started_at


def test_a_return_value_that_is_not_json_or_too_big_becomes_a_truncated_repr() -> None:
    assert invoke(lambda: float("nan"), [], {}).retval == "nan"
    huge = invoke(lambda: "x" * (MAX_RETVAL_BYTES + 1), [], {})
    assert huge.retval_is_repr is True
    assert len(huge.retval) == MAX_RETVAL_REPR_CHARS


def test_an_exception_is_captured_with_qualified_type_message_and_traceback() -> None:
    class Boom(RuntimeError):
        pass

    def explode(text: str) -> None:
        raise Boom(text)

    outcome = invoke(explode, ["deep"], {})
    assert outcome.failed
    assert outcome.error_type is not None
    assert outcome.error_type.endswith("test_worker_runner.Boom") or outcome.error_type.endswith(
        "Boom"
    )
    assert outcome.error_message == "deep"
    assert "in explode" in outcome.traceback
    assert outcome.traceback.rstrip().endswith("Boom: deep")


def test_a_huge_message_and_traceback_are_cut_keeping_the_end() -> None:
    def explode() -> None:
        raise ValueError("x" * (MAX_TRACEBACK_CHARS * 2) + "END")

    outcome = invoke(explode, [], {})
    assert len(outcome.error_message) <= 4096
    assert len(outcome.traceback) <= MAX_TRACEBACK_CHARS
    assert outcome.traceback.startswith("... (traceback truncated)")
    assert outcome.traceback.rstrip().endswith("END")


def test_a_sync_function_returning_a_coroutine_is_an_error_naming_the_asyncio_executor() -> None:
    async def later() -> int:
        return 1

    outcome = invoke(lambda: later(), [], {})
    assert outcome.error_type == "TypeError"
    assert "--executor asyncio" in outcome.error_message


def test_an_async_job_is_awaited() -> None:
    async def add(a: int, b: int) -> Any:
        await asyncio.sleep(0)
        return a + b

    outcome = asyncio.run(invoke_async(add, [2, 3], {}))
    assert (outcome.retval, outcome.failed) == (5, False)


# -- what a job hands over must still make an event the scheduler can read ---------------

_NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
_RUN = RunRequest(
    run_id="r-1", job_id="j-1", job_name="j-1", func="m:f", args=[], kwargs={},
    scheduled_at=_NOW, published_at=_NOW, misfire_grace_time=None, max_instances=1,
    queue="default", epoch=1,
)  # fmt: skip


def _as_read_by_the_scheduler(outcome: Outcome) -> Event:
    """The outcome's event, encoded as the worker sends it and decoded as the scheduler
    reads it (raises where either side would fail)."""
    reporter = Reporter(Identity.of_this_process("w-1"), Topology(), lambda: _NOW)
    return decode_event(reporter.message(reporter.finished(_RUN, False, outcome)).body)


def test_a_return_value_holding_text_utf8_cannot_encode_is_reported_as_its_escaped_repr() -> None:
    name = os.fsdecode(b"report-\xff.csv")  # an undecodable file name: a lone surrogate
    for value, shown in [
        (name, r"'report-\udcff.csv'"),
        ({name: 1}, r"{'report-\udcff.csv': 1}"),
        ([1, [name]], r"[1, ['report-\udcff.csv']]"),
    ]:
        outcome = invoke(lambda v=value: v, [], {})
        assert (outcome.retval, outcome.retval_is_repr) == (shown, True)
        event = _as_read_by_the_scheduler(outcome)
        assert isinstance(event, JobExecuted)
        assert event.retval == shown


def test_text_json_escapes_but_can_encode_is_kept_as_json() -> None:
    outcome = invoke(lambda: {"café": "naïve ✓ \U0001f600"}, [], {})
    assert (outcome.retval, outcome.retval_is_repr) == ({"café": "naïve ✓ \U0001f600"}, False)


def test_an_int_too_long_for_a_json_reader_is_reported_as_a_repr() -> None:
    outcome = invoke(lambda: 10**5000, [], {})  # the scheduler reads at most 4,300 digits
    assert outcome.retval_is_repr is True
    assert isinstance(_as_read_by_the_scheduler(outcome), JobExecuted)
    assert invoke(lambda: 2**64, [], {}).retval == 2**64


def test_an_exception_with_text_utf8_cannot_encode_is_reported_escaped() -> None:
    path = os.fsdecode(b"/data/in\xfe.csv")
    # A class name cannot hold a lone surrogate; a module name can.
    odd = type("OddError", (OSError,), {"__module__": "jobs\udc80"})

    def explode() -> None:
        raise odd(2, "No such file or directory", path)

    outcome = invoke(explode, [], {})
    event = _as_read_by_the_scheduler(outcome)
    assert isinstance(event, JobError)
    assert event.exception.type == r"jobs\udc80.OddError"
    assert event.exception.message == r"[Errno 2] No such file or directory: '/data/in\udcfe.csv'"
    assert event.exception.traceback.rstrip().endswith(event.exception.message)


def test_a_traceback_of_escaped_text_still_fits_its_limit() -> None:
    def explode() -> None:
        raise ValueError("\udcff" * MAX_TRACEBACK_CHARS)  # each becomes six characters

    outcome = invoke(explode, [], {})
    assert len(outcome.traceback) <= MAX_TRACEBACK_CHARS
    assert isinstance(_as_read_by_the_scheduler(outcome), JobError)


def test_an_exception_whose_str_raises_is_still_reported() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    def explode() -> None:
        raise Broken

    outcome = invoke(explode, [], {})
    assert outcome.error_message == "<Broken object; str() raised RuntimeError>"
    assert isinstance(_as_read_by_the_scheduler(outcome), JobError)


def test_a_job_changing_the_lists_it_was_given_leaves_the_run_as_received() -> None:
    args: list[Any] = [[1, 2], "text"]
    kwargs: dict[str, Any] = {"options": {"a": 1}, "flag": True}

    def change(items: list[Any], text: str, options: dict[str, Any], flag: bool) -> None:
        items.append({3})
        options["b"] = object()
        raise ValueError("half done")

    for call in (invoke, lambda f, a, k: asyncio.run(invoke_async(_async(f), a, k))):
        assert call(change, args, kwargs).failed
        assert (args, kwargs) == ([[1, 2], "text"], {"options": {"a": 1}, "flag": True})


def _async(func: Any) -> Any:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def test_an_outcome_without_details_keeps_its_kind_and_timing_and_can_be_sent() -> None:
    def explode() -> None:
        raise ValueError("x")

    for outcome in (invoke(lambda: 1, [], {}), invoke(explode, [], {})):
        bare = without_details(outcome, "why \udcff")
        assert (bare.failed, bare.started_at, bare.duration_s) == (
            outcome.failed,
            outcome.started_at,
            outcome.duration_s,
        )
        event = _as_read_by_the_scheduler(bare)
        if isinstance(event, JobError):
            assert (event.exception.type, event.exception.message) == (
                "dueq.UnsendableOutcome",
                r"why \udcff",
            )
        else:
            assert isinstance(event, JobExecuted)
            assert (event.retval, event.retval_is_repr) == (r"why \udcff", True)
