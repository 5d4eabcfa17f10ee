"""One live line per event for ``dueq up``: what fired, what it returned, what failed.

A scheduler listener: called on the scheduler's listener thread, never on the loop, so
printing (even to a slow terminal) cannot delay scheduling.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, tzinfo

from rich.console import Console
from rich.text import Text

from dueq.producer import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)

__all__ = ["PRINTED_EVENTS", "EventPrinter"]

PRINTED_EVENTS = (
    EVENT_JOB_SUBMITTED
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_MAX_INSTANCES
)
"""The listener mask: run lifecycle only (job added/removed lines would be noise)."""

# Longest return value shown on an "executed" line.
_RETVAL_CHARS = 80

# (label, style) per event code; labels are padded so the job ids line up.
_LABELS = {
    EVENT_JOB_SUBMITTED: ("fired", "cyan"),
    EVENT_JOB_EXECUTED: ("executed", "green"),
    EVENT_JOB_ERROR: ("error", "bold red"),
    EVENT_JOB_MISSED: ("missed", "yellow"),
    EVENT_JOB_MAX_INSTANCES: ("max_instances", "yellow"),
}
_LABEL_WIDTH = max(len(label) for label, _ in _LABELS.values())
# Job ids are padded to this width so the details line up (longer ids just push them).
_JOB_WIDTH = 14


class EventPrinter:
    """Prints each run event as ``HH:MM:SS  label  job  detail`` (plus a traceback)."""

    def __init__(self, console: Console, zone: tzinfo = UTC) -> None:
        self._console = console
        self._zone = zone
        self._counts: Counter[str] = Counter()

    def summary(self) -> str:
        """``3 fired, 2 executed, 1 error`` (events printed so far, in lifecycle order)."""
        parts = [f"{self._counts[label]} {label}" for label, _ in _LABELS.values()]
        return ", ".join(parts)

    def __call__(self, event: SchedulerEvent) -> None:
        if event.code not in _LABELS:
            return
        label, style = _LABELS[event.code]
        self._counts[label] += 1
        line = Text(f"{self._clock()}  ")
        line.append(label.ljust(_LABEL_WIDTH), style=style)
        line.append(f"  {getattr(event, 'job_id', '-'):<{_JOB_WIDTH}}", style="bold")
        detail = self._detail(event)
        if detail:
            line.append(f"  {detail}")
        self._console.print(line)
        if isinstance(event, JobExecutionEvent) and event.traceback:
            self._console.print(Text(event.traceback.rstrip(), style="red"))

    def _clock(self) -> str:
        return f"{datetime.now(self._zone):%H:%M:%S}"

    def _detail(self, event: SchedulerEvent) -> str:
        if isinstance(event, JobSubmissionEvent):
            times = ", ".join(self._time(t) for t in event.scheduled_run_times)
            return f"run for {times}"
        if not isinstance(event, JobExecutionEvent):
            return ""
        if event.code == EVENT_JOB_EXECUTED:
            took = "" if event.duration_s is None else f" in {event.duration_s:.3f}s"
            return f"returned {_cut(repr(event.retval))}{took}"
        if event.code == EVENT_JOB_ERROR:
            return str(event.exception) if event.exception else "failed"
        if event.code == EVENT_JOB_MISSED:
            return f"run for {self._time(event.scheduled_run_time)} was later than its grace time"
        return (
            f"run for {self._time(event.scheduled_run_time)} skipped: max_instances already running"
        )

    def _time(self, value: datetime) -> str:
        return f"{value.astimezone(self._zone):%H:%M:%S}"


def _cut(text: str) -> str:
    return text if len(text) <= _RETVAL_CHARS else text[: _RETVAL_CHARS - 1] + "…"
