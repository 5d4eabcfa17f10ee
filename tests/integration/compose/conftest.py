"""Fixtures of the compose tests: compose's least-privilege accounts, made real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dueq.shared.topology import Topology
from tests.integration.compose.compose_accounts import broker_accounts, database_accounts


@pytest.fixture
def broker_users(rabbitmq_url: str, topology: Topology) -> Iterator[dict[str, str]]:
    """The scheduler and worker RabbitMQ users, with compose's permissions for this prefix."""
    with broker_accounts(topology.prefix) as variables:
        yield variables


@pytest.fixture
def database_roles(postgres_url: str, pg_schema_url: str) -> Iterator[dict[str, str]]:
    """The migration, scheduler and worker PostgreSQL roles on this test's schema."""
    with database_accounts(postgres_url, pg_schema_url) as variables:
        yield variables
