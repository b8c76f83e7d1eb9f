"""Which requests ``web.prepared`` takes, and what its answers carry, on a small schema.

Every request it declines runs through Strawberry and the extensions, which report what is
wrong; so the lean path must decline anything that is not a known, valid document within the
limits, and answer the rest as the extensions would (codes, masking, metrics).
"""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from strawberry.types.graphql import OperationType

from entitlements.errors import ForbiddenError
from web.document_cache import DocumentCache
from web.limits import MeasureCache
from web.masking import MASKED_MESSAGE
from web.metrics import Metrics
from web.prepared import PreparedOperations
from web.settings import QueryLimits


@strawberry.type
class Item:
    name: str


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 5) -> list[Item]:
        return [Item(name=str(i)) for i in range(first)]

    @strawberry.field
    def boom(self) -> str | None:
        raise RuntimeError("connection to mongodb://admin:hunter2@db-7 refused")

    @strawberry.field
    def forbidden(self) -> str | None:
        raise ForbiddenError("invoices are not part of your entitlements")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self) -> bool:
        return True


ITEMS = "query Items($n: Int!) { items(first: $n) { name } }"
QUERIES = {OperationType.QUERY}


def lean(max_cost: int = 100) -> tuple[PreparedOperations, Metrics]:
    schema = strawberry.Schema(Query, mutation=Mutation)
    limits = QueryLimits(max_cost=max_cost)
    metrics = Metrics()
    prepared = PreparedOperations(
        schema, DocumentCache(8), MeasureCache(8), limits, metrics, freshness=None
    )
    return prepared, metrics


def known(prepared: PreparedOperations, query: str) -> None:
    prepared.documents.pin(prepared.schema._schema, query)


def test_only_known_valid_documents_are_taken() -> None:
    prepared, _ = lean()
    assert prepared.prepare(ITEMS, None, {"n": 2}, QUERIES) is None  # never seen
    known(prepared, ITEMS)
    taken = prepared.prepare(ITEMS, None, {"n": 2}, QUERIES)
    assert taken is not None and taken.operation_type == "query"
    invalid = "{ items { nope } }"
    known(prepared, invalid)
    assert prepared.prepare(invalid, None, None, QUERIES) is None
    assert prepared.prepare(None, None, None, QUERIES) is None


@pytest.mark.parametrize(
    ("query", "name", "variables", "allowed"),
    [
        ("query A { items { name } } query B { items { name } }", None, None, QUERIES),
        ("query A { items { name } }", "Other", None, QUERIES),
        ("mutation { touch }", None, None, QUERIES),  # e.g. over GET
        (ITEMS, None, {"n": "a\u0000b"}, QUERIES),  # NUL in a variable
        (ITEMS, None, {"n": 1000}, QUERIES),  # over MAX_QUERY_COST
    ],
)
def test_anything_to_refuse_is_left_to_strawberry(
    query: str, name: str | None, variables: dict[str, Any] | None, allowed: set[OperationType]
) -> None:
    prepared, _ = lean()
    known(prepared, query)
    assert prepared.prepare(query, name, variables, allowed) is None


async def test_answers_carry_coded_and_masked_errors_and_are_counted() -> None:
    prepared, metrics = lean()
    query = "{ items(first: 2) { name } boom forbidden }"
    known(prepared, query)
    taken = prepared.prepare(query, None, None, QUERIES)
    assert taken is not None
    result = await prepared.execute(taken, None, None, None)
    assert result.data is not None and result.data["items"] == [{"name": "0"}, {"name": "1"}]
    by_path = {str((e.path or ["?"])[0]): e for e in result.errors or []}
    assert by_path["boom"].message == MASKED_MESSAGE
    assert by_path["boom"].extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert by_path["forbidden"].extensions == {"code": "FORBIDDEN"}
    assert result.extensions == {}
    sample = metrics.registry.get_sample_value
    assert sample("portal_graphql_request_duration_seconds_count", {"operation_type": "query"}) == 1
    assert sample("portal_graphql_errors_total", {"code": "FORBIDDEN"}) == 1
    assert sample("portal_graphql_errors_total", {"code": "INTERNAL_SERVER_ERROR"}) == 1
