"""The alert rules and the dashboard name only metrics the running processes export.

Scrapes a real API process and a real projector process, so a renamed or dropped metric
fails here instead of silently turning an alert or a panel blank.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api_harness import api_env, free_port, run_api
from tests.integration.projector_harness import (
    Pipeline,
    scrape,
    start_projector,
    stop_projector,
)

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "ops" / "grafana" / "portal-read-model.json"
_NAME = re.compile(r"\bportal_[a-z0-9_]+\b")

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def exported_names(text: str) -> set[str]:
    """Every series name a scrape can yield, including those of label sets not seen yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


def used_names() -> dict[str, set[str]]:
    expressions = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    return {
        "alerts.yml": set(_NAME.findall(RULES.read_text())),
        "portal-read-model.json": set(_NAME.findall("\n".join(expressions))),
    }


async def test_rules_and_dashboard_use_only_exported_metrics(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    port = free_port()
    env = pipeline.projector_env(PROJECTOR_METRICS_PORT=str(port))
    projector = start_projector(env, tmp_path / "projector.log")
    try:
        projector_text = await scrape(f"http://127.0.0.1:{port}")
        async for api in run_api(api_env(pipeline.stack, pipeline.database), tmp_path / "api.log"):
            async with httpx.AsyncClient() as http:
                api_text = (await http.get(f"{api.url}/metrics")).text
    finally:
        stop_projector(projector)

    exported = exported_names(projector_text) | exported_names(api_text)
    used = used_names()
    assert used["alerts.yml"] and used["portal-read-model.json"]
    assert {file: sorted(names - exported) for file, names in used.items()} == {
        "alerts.yml": [],
        "portal-read-model.json": [],
    }
    # and the check itself sees a name that is not exported
    assert "portal_projector_events_applied" not in exported  # the counter is ..._total
