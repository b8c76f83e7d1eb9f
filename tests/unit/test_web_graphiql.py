"""The GraphiQL page: offline assets, safe embedding, and examples that work on first try."""

from __future__ import annotations

import json
import re

import pytest
from graphql import parse, validate

from graph.schema import build_schema
from web.graphiql import STATIC_DIRECTORY, STATIC_PREFIX, TOKEN_PLACEHOLDER, render_page
from web.graphiql_examples import EXAMPLES, Example, ExampleValues, build_examples
from web.limits import measure_document, refusals
from web.settings import QueryLimits

SCHEMA = build_schema()


def test_page_loads_only_local_assets_that_exist() -> None:
    page = render_page("/graphql")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, "the page references no assets"
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith(STATIC_PREFIX + "/"), asset
        assert (STATIC_DIRECTORY / asset.removeprefix(STATIC_PREFIX + "/")).is_file(), asset
    assert "http://" not in page and "https://" not in page


def config_of(page: str) -> dict[str, object]:
    match = re.search(
        r'<script id="graphiql-config" type="application/json">(.*?)</script>', page, re.S
    )
    assert match is not None
    parsed: dict[str, object] = json.loads(match.group(1))
    return parsed


def test_config_carries_path_placeholder_and_one_tab_per_example() -> None:
    config = config_of(render_page("/api/graphql"))
    assert config["graphqlPath"] == "/api/graphql"
    assert json.loads(str(config["defaultHeaders"])) == {
        "Authorization": f"Bearer {TOKEN_PLACEHOLDER}"
    }
    tabs = config["tabs"]
    assert isinstance(tabs, list) and len(tabs) == len(EXAMPLES)


def test_example_text_cannot_break_out_of_the_script_element() -> None:
    hostile = Example(title="</script><script>alert(1)</script>", query="{ viewer { subject } }")
    page = render_page("/graphql", [hostile])
    assert "<script>alert(1)" not in page
    tabs = config_of(page)["tabs"]
    assert isinstance(tabs, list) and "</script><script>alert(1)" in tabs[0]["query"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.title)
def test_examples_validate_and_fit_the_default_limits(example: Example) -> None:
    document = parse(example.query)
    errors = validate(SCHEMA._schema, document)
    assert not errors, [e.message for e in errors]
    limits = QueryLimits()
    measure = measure_document(
        SCHEMA._schema, document, example.variables, limits.default_page_size
    )
    assert refusals(measure, limits) == [], measure


def test_examples_cover_the_documented_journeys() -> None:
    operations = " ".join(e.query for e in EXAMPLES)
    for field in (
        "shipmentByTrackingNumber",
        "orders(",
        "OVERDUE",
        "searchShipments",
        "subscription",
        "dataFreshness",
    ):
        assert field in operations, field


def test_each_example_variable_takes_its_value_from_the_example_settings() -> None:
    values = ExampleValues.model_validate(
        {
            "GRAPHIQL_EXAMPLE_TRACKING_NUMBER": "1Z999",
            "GRAPHIQL_EXAMPLE_CUSTOMER_ID": "GLOBEX",
            "GRAPHIQL_EXAMPLE_SEARCH_TEXT": "Reno",
        }
    )
    expected = {"trackingNumber": "1Z999", "customerId": "GLOBEX", "text": "Reno"}
    declared_anywhere: set[str] = set()
    for example in build_examples(values):
        (operation,) = parse(example.query).definitions
        definitions = getattr(operation, "variable_definitions", None) or ()
        declared = {v.variable.name.value for v in definitions}
        declared_anywhere |= declared
        assert example.variables == {name: expected[name] for name in declared}, example.title
    assert declared_anywhere == set(expected)  # each setting reaches some example
