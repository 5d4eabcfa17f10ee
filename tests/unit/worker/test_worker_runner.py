"""Calling a job and capturing its outcome as plain, wire-ready values."""

from __future__ import annotations

import asyncio
from typing import Any

from dueq.shared.protocol import MAX_TRACEBACK_CHARS
from dueq.worker.runner import MAX_RETVAL_BYTES, MAX_RETVAL_REPR_CHARS, invoke, invoke_async


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
