"""Every GraphQL example in the README and in docs/api.md (where "Using the API" lives in
full) is a document the API accepts: it parses, validates against the published schema and
fits the default limits, so a reader who copies one gets an answer, not a validation error
(they were also run against the demo when written)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, specified_rules

from web.document_cache import validate_document
from web.limits import measure_document, refusals
from web.settings import QueryLimits
from web.validation_worker import portal_graphql_schema

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
API_DOCS = ROOT / "docs" / "api.md"
SCHEMA = portal_graphql_schema()  # what the API validates against, with Strawberry's rules


def graphql_examples(path: Path) -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", path.read_text("utf-8"), re.S)


EXAMPLES = graphql_examples(README) + graphql_examples(API_DOCS)


def test_the_readme_shows_at_least_one_example() -> None:
    assert graphql_examples(README)


def test_the_api_docs_show_an_example_for_each_kind_of_user() -> None:
    text = "\n".join(graphql_examples(API_DOCS))
    for root_field in (
        "orders(",
        "searchShipments(",
        "milestoneFeed(",
        "_entities(",
        "dataFreshness",
    ):
        assert root_field in text


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.split("{")[0].strip() or e[:30])
def test_a_documented_example_validates_and_fits_the_default_limits(example: str) -> None:
    document = parse(example)
    assert [e.message for e in validate_document(SCHEMA, document, specified_rules)] == []
    limits = QueryLimits()
    # no variables: an example's page sizes are written in it, or the default applies
    assert refusals(measure_document(SCHEMA, document, {}, limits.default_page_size), limits) == []


def test_the_docs_graphql_ws_snippet_is_the_one_the_tests_run() -> None:
    """The checkpoints snippet (docs/api.md, "Subscriptions") is word for word the part of
    ``clients/live-checkpoints.mjs`` that tests/integration/test_subscriptions.py runs with
    graphql-ws against a live API, so a reader copies code that was run."""
    [snippet] = [
        block
        for path in (README, API_DOCS)
        for block in re.findall(r"```js\n(.*?)```", path.read_text("utf-8"), re.S)
        if "checkpoints" in block
    ]
    script = (ROOT / "clients" / "live-checkpoints.mjs").read_text("utf-8")
    between = script.split("// --- the snippet in docs/api.md ---\n")[1]
    assert between.split("// --- end of the snippet ---")[0].strip() == snippet.strip()
