"""One log line per run outcome, so a terminal or a log shipper sees every run.

Like Celery's "Task ... succeeded in 0.001s": INFO for a run that succeeded, was missed
or was skipped by max_instances, ERROR (with the job's traceback) for a run that failed.
Each record carries ``run_id``, ``job_id`` and ``outcome`` as extras, which the JSON log
format (``DUEQ_LOG_FORMAT=json``) turns into fields.
"""

from __future__ import annotations

import logging

from dueq.shared.protocol import RunRequest
from dueq.worker.runner import Outcome

__all__ = ["log_finished", "log_max_instances", "log_missed"]

log = logging.getLogger("dueq.worker.runs")

# Longest return value repr in a "succeeded" line; the full value is in the run history.
_RETVAL_CHARS = 120


def _extra(run: RunRequest, outcome: str) -> dict[str, str]:
    return {"run_id": run.run_id, "job_id": run.job_id, "outcome": outcome}


def log_finished(run: RunRequest, outcome: Outcome) -> None:
    """``run R of J succeeded in 0.001s: 5`` or ``... failed in 0.002s: ValueError: ...``."""
    if outcome.error_type is None:
        retval = repr(outcome.retval)
        if len(retval) > _RETVAL_CHARS:
            retval = retval[: _RETVAL_CHARS - 3] + "..."
        log.info(
            "run %s of %s succeeded in %.3fs: %s",
            run.run_id,
            run.job_id,
            outcome.duration_s,
            retval,
            extra=_extra(run, "executed"),
        )
        return
    log.error(
        "run %s of %s failed in %.3fs: %s: %s\n%s",
        run.run_id,
        run.job_id,
        outcome.duration_s,
        outcome.error_type,
        outcome.error_message,
        outcome.traceback.rstrip(),
        extra=_extra(run, "error"),
    )


def log_missed(run: RunRequest, lateness_s: float) -> None:
    """``run R of J missed: 12.3s late, misfire grace 10s``."""
    log.info(
        "run %s of %s missed: %.1fs late, misfire grace %ss",
        run.run_id,
        run.job_id,
        lateness_s,
        run.misfire_grace_time,
        extra=_extra(run, "missed"),
    )


def log_max_instances(run: RunRequest, running: int) -> None:
    """``run R of J skipped: 1 of max_instances 1 already running``."""
    log.info(
        "run %s of %s skipped: %d of max_instances %d already running",
        run.run_id,
        run.job_id,
        running,
        run.max_instances,
        extra=_extra(run, "max_instances"),
    )
