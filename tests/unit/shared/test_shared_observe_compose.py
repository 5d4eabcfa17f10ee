"""The compose deployment's monitoring: Prometheus and Grafana behind the "observe"
profile, and a Grafana dashboard that only asks for metrics dueq exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dueq.shared.prometheus import PrometheusMetrics
from dueq.shared.settings import DueqSettings

COMPOSE = Path(__file__).resolve().parents[3] / "compose"
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _exposed() -> set[str]:
    names = set()
    for role in ("scheduler", "worker"):
        for family in PrometheusMetrics(role).registry.collect():
            names.add(family.name)
    return names


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def test_every_grafana_query_names_a_metric_dueq_exposes() -> None:
    board = json.loads((COMPOSE / "grafana" / "dashboards" / "dueq.json").read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    asked = {_base(m) for e in exprs for m in re.findall(r"dueq_[a-z_]+", e)}
    exposed = {_base(name) for name in _exposed()}
    assert len(exprs) >= 10
    assert asked <= exposed, asked - exposed
    assert {"dueq_scheduler_runs_published", "dueq_worker_claims_held"} <= asked


def test_prometheus_and_grafana_run_only_with_the_observe_profile() -> None:
    services = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())["services"]
    for name in ("prometheus", "grafana", "dashboard"):
        assert services[name]["profiles"] == ["observe"]
    scrape = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())["scrape_configs"]
    assert {job["job_name"] for job in scrape} == {"dueq-scheduler", "dueq-worker"}


def test_an_empty_metrics_port_means_metrics_off() -> None:
    assert DueqSettings(metrics_port="").metrics_port is None
    assert DueqSettings(metrics_port="9100").metrics_port == 9100
