"""Bad run messages for the fuzz test: Hypothesis strategies and a fixed set of each kind.

Every payload here must be refused by a worker: it is malformed (random bytes, truncated
JSON), breaks the RunRequest schema (wrong types, missing fields, unknown fields inside
known ones, out-of-range numbers), exceeds a limit (huge fields, deep nesting), or names a
function outside the worker's allowlist (``os:system``, ``builtins:eval``, path tricks,
dunder walks, very long names). Hostile calls carry ``touch <marker>`` as their argument, so
a test can tell whether anything ever ran them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from dueq.shared.protocol import RunRequest, make_run_id
from tests.faults.faults_rig import FAULT_JOB

__all__ = ["HOSTILE_FUNCS", "bad_payloads", "one_of_each", "valid_run"]

# Sizes of the huge fields: past every protocol limit (64 KiB arguments, 255-character
# names), far below RabbitMQ's frame limits.
HUGE_SIZES = (70_000, 300_000, 1_000_000)

HOSTILE_FUNCS = [
    "os:system",
    "builtins:eval",
    "builtins:exec",
    "subprocess:Popen",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "__import__('os').system('id')",
    "os.path:join",
    "tests.faults.fault_jobs:os.system",
    "tests.faults.fault_jobs:psycopg.connect",
    "tests.faults.fault_jobs:__builtins__",
    "tests.faults.fault_jobs:record.__globals__",
    "tests.faults.fault_jobs:LEDGER_TABLE",
    "tests.faults:fault_jobs",
    "tests.faults.fault_jobs:no_such_function",
    "tests.faults.fault_jobs_evil:record",
    "tests:faults",
    "",
    ":",
    "a." * 200 + "b:c",
]


def valid_run(job_id: str) -> RunRequest:
    """A valid run of the fault job, due now."""
    now = datetime.now(UTC)
    return RunRequest(
        run_id=make_run_id(job_id, now),
        job_id=job_id,
        job_name=job_id,
        func=FAULT_JOB,
        scheduled_at=now,
        published_at=now,
        epoch=1,
    )


def _base(job_id: str) -> dict[str, Any]:
    """A valid RunRequest as a JSON dict, to be spoiled."""
    return valid_run(job_id).wire_dict()


def _not_a(*kinds: str) -> st.SearchStrategy[Any]:
    """JSON values of any kind except ``kinds`` (wrong types for a field)."""
    options: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "bool": st.booleans(),
        "int": st.integers(-(2**70), 2**70),
        "float": st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
        "str": st.text(max_size=20),
        "list": st.lists(st.integers(), max_size=3),
        "dict": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    }
    return st.one_of([s for k, s in options.items() if k not in kinds])


# Per field of a RunRequest: values it must refuse (wrong type, or out of range).
WRONG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "protocol": st.one_of(st.sampled_from([0, 2, "1", 1.5, None])),
    "run_id": _not_a("str"),
    "job_id": _not_a("str"),
    "job_name": _not_a("str"),
    "func": _not_a("str"),
    "args": _not_a("list"),
    "kwargs": _not_a("dict"),
    "scheduled_at": st.one_of(_not_a("str"), st.sampled_from(["", "yesterday", "2024-13-45"])),
    "published_at": st.one_of(_not_a("str"), st.sampled_from(["now", "1e9"])),
    "misfire_grace_time": st.one_of(_not_a("null", "int", "float"), st.just(-1)),
    "max_instances": st.one_of(_not_a("int"), st.sampled_from([0, -1, 10_001, 2**40])),
    "queue": st.one_of(_not_a("str"), st.sampled_from(["", "bad queue", "../x"])),
    "epoch": st.one_of(_not_a("int"), st.just(-1)),
}


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    body = _base("fuzz-wrong-type")
    field = draw(st.sampled_from(sorted(WRONG_VALUES)))
    body[field] = draw(WRONG_VALUES[field])
    return _dumps(body)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    text = _dumps(_base("fuzz-truncated"))
    return text[: draw(st.integers(0, len(text) - 1))]


@st.composite
def missing_or_unknown_field(draw: st.DrawFn) -> bytes:
    """A required field missing, or an unknown one inside the retry policy (an unknown
    top-level field is ignored by design: docs/protocol.md, Versioning)."""
    body = _base("fuzz-fields")
    if draw(st.booleans()):
        del body[draw(st.sampled_from(["run_id", "job_id", "func", "scheduled_at", "epoch"]))]
    else:
        name = draw(st.sampled_from(["pickle", "__class__", "callback", "x"]))
        body["retry"] = {"max_attempts": 2, name: "boom"}
    return _dumps(body)


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    size = draw(st.sampled_from(HUGE_SIZES))
    body = _base("fuzz-huge")
    kind = draw(st.sampled_from(["job_id", "func", "args", "kwargs", "nesting", "garbage"]))
    if kind == "nesting":
        return b"[" * size + b"]" * size  # a recursion bomb for naive parsers
    if kind == "garbage":
        return draw(st.binary(min_size=16, max_size=16)) * (size // 16)
    if kind == "args":
        body["args"] = ["x" * size]
    elif kind == "kwargs":
        body["kwargs"] = {f"k{n}": n for n in range(size // 10)}
    else:
        body[kind] = "a" * size
    return _dumps(body)


@st.composite
def hostile_func(draw: st.DrawFn, marker: str) -> bytes:
    body = _base("fuzz-hostile")
    long_name = st.text(min_size=256, max_size=3000).map(lambda t: f"tests.faults.fault_jobs:{t}")
    body["func"] = draw(st.one_of(st.sampled_from(HOSTILE_FUNCS), long_name))
    # If anything ever ran it, this file would appear.
    body["args"] = [f"touch {marker}"]
    return _dumps(body)


def bad_payloads(marker: str) -> st.SearchStrategy[list[bytes]]:
    """Lists mixing every kind of bad message."""
    one = st.one_of(
        st.binary(max_size=300),
        truncated(),
        wrong_type(),
        missing_or_unknown_field(),
        huge(),
        hostile_func(marker),
    )
    return st.lists(one, min_size=10, max_size=25)


def one_of_each(marker: str) -> list[bytes]:
    """One bad message of every kind, written out (Hypothesis may not draw them all)."""
    base = _base("fixed")
    text = _dumps(base)
    spoiled = [
        {**base, "max_instances": "1"},
        {**base, "args": {"not": "a list"}},
        {**base, "func": ["os", "system"]},
        {key: value for key, value in base.items() if key != "run_id"},
        # An unknown top-level field is ignored by design; inside a known one it is refused.
        {**base, "retry": {"pickle": "gASVIQAAAAAAAACMBXBvc2l4lIwGc3lzdGVtlJOUjAJpZJSFlFKULg=="}},
        {**base, "args": ["x" * 100_000]},
        {**base, "job_id": "j" * 300_000},
    ]
    hostile = [{**base, "func": func, "args": [f"touch {marker}"]} for func in HOSTILE_FUNCS]
    return [
        b"\x00\xff\xfe garbage",
        b"",
        text[: len(text) // 2],
        b"[" * 500_000 + b"]" * 500_000,
        bytes(range(256)) * 4000,
        *map(_dumps, spoiled),
        *map(_dumps, hostile),
        _dumps({**base, "func": "tests.faults.fault_jobs:" + "x" * 5000}),
    ]
