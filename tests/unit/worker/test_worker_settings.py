"""Worker settings: defaults, DUEQ_* environment, validation, redaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from dueq.worker.settings import DEFAULT_THREAD_CONCURRENCY, ExecutorKind, WorkerSettings


def test_defaults_need_no_database_and_use_eight_threads() -> None:
    settings = WorkerSettings()
    assert settings.database_url is None
    assert (settings.executor, settings.concurrency) == (ExecutorKind.THREAD, 8)
    assert settings.concurrency == DEFAULT_THREAD_CONCURRENCY
    assert settings.queues == ("default",)
    assert settings.claim_lease == timedelta(seconds=30)
    assert settings.heartbeat_interval == timedelta(seconds=10)
    assert settings.claim_lead == timedelta(milliseconds=20)


def test_the_prefetch_multiplier_defaults_to_4_and_to_16_with_claims_to_commit() -> None:
    # With a database a run is acked once its claim commits: the window must cover the
    # claim's round trips too (docs/worker-claims.md).
    assert WorkerSettings().prefetch_multiplier == 4
    with_database = WorkerSettings(database_url="postgresql+psycopg://db/dueq")
    assert with_database.prefetch_multiplier == 16


def test_a_prefetch_multiplier_given_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUEQ_DATABASE_URL", "sqlite:///dueq.db")
    assert WorkerSettings().prefetch_multiplier == 16  # the database from the environment
    monkeypatch.setenv("DUEQ_PREFETCH_MULTIPLIER", "2")
    assert WorkerSettings().prefetch_multiplier == 2
    assert WorkerSettings(prefetch_multiplier=1).prefetch_multiplier == 1


def test_every_worker_gets_its_own_id() -> None:
    assert WorkerSettings().worker_id != WorkerSettings().worker_id


def test_settings_come_from_dueq_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUEQ_QUEUES", '["a", "b"]')
    monkeypatch.setenv("DUEQ_EXECUTOR", "asyncio")
    monkeypatch.setenv("DUEQ_CLAIM_LEASE", "5")
    monkeypatch.setenv("DUEQ_CLAIM_LEAD", "0.025")
    monkeypatch.setenv("DUEQ_DATABASE_URL", "postgresql://dueq:s3cret@db/dueq")
    settings = WorkerSettings()
    assert settings.queues == ("a", "b")
    assert settings.concurrency == 64  # the asyncio default
    assert settings.claim_lease == timedelta(seconds=5)
    assert settings.claim_lead == timedelta(milliseconds=25)
    assert "s3cret" not in repr(settings)
    assert settings.database_url is not None
    assert "s3cret" in settings.database_url.reveal()


@pytest.mark.parametrize(
    "bad",
    [
        {"queues": ()},
        {"queues": ("bad queue",)},
        {"imports": ("os; rm",)},
        {"claim_lease": 0},
        {"claim_lead": -0.001},
        {"claim_lead": 1.5},
        {"executor": "gevent"},
    ],
)
def test_invalid_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WorkerSettings(**bad)  # type: ignore[arg-type]
