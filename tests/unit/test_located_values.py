"""A literal a scalar refuses (a bad date, a bad amount) is refused with the place it is at,
so GraphiQL underlines it; graphql-core reported Strawberry's scalar errors without one."""

from __future__ import annotations

import pytest
from graphql import parse, specified_rules

from web.document_cache import validate_document
from web.validation_worker import portal_graphql_schema

SCHEMA = portal_graphql_schema()


def _place(document: str, literal: str) -> tuple[int, int]:
    """Line and column (from 1) where ``literal`` is written in ``document``."""
    before = document[: document.index(literal)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        (
            '{\n  orders(filter: {orderedAt: {to: "2026-12-01T00:00:00Z", from: "yesterday"}})'
            " { totalCount } }",
            '"yesterday"',
        ),
        (
            '{ invoices(filter: {issuedAt: {from: "2026-02-30T00:00:00Z"}}) { totalCount } }',
            '"2026-02-30T00:00:00Z"',
        ),
        (
            'query { a: orders(filter: {orderedAt: {from: "2026-11-01T00:00:00Z"}}) { totalCount }'
            '\n b: orders(filter: {orderedAt: {to: "11/02/2026"}}) { totalCount } }',
            '"11/02/2026"',
        ),
    ],
)
def test_a_refused_scalar_literal_is_located_where_it_is_written(
    document: str, refused: str
) -> None:
    errors = validate_document(SCHEMA, parse(document), specified_rules)
    assert len(errors) == 1
    assert "DateTime" in errors[0].message
    located = [(loc.line, loc.column) for loc in errors[0].locations or []]
    assert located == [_place(document, refused)]


def test_the_errors_that_were_located_already_keep_their_place() -> None:
    document = "{ orders(filter: {statuses: [DONE]}) { totalCount } }"
    errors = validate_document(SCHEMA, parse(document), specified_rules)
    located = [(loc.line, loc.column) for loc in errors[0].locations or []]
    assert located == [_place(document, "DONE")]
