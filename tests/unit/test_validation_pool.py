"""Validation in a worker process: the same errors as on the event loop, and no lane place
lost when a request stops waiting (no services needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from graphql import parse, specified_rules

from web.admission import Lane
from web.document_cache import validate_document
from web.validation_pool import ValidationPool, portal_graphql_schema

SCHEMA = portal_graphql_schema()


@pytest_asyncio.fixture
async def pool() -> AsyncIterator[ValidationPool]:
    pool = ValidationPool(Lane(total=2, per_client=1), max_errors=5)
    pool.start()
    yield pool
    pool.close()


def invalid_document(tag: str) -> str:
    fields = " ".join(f"{tag}{i}" for i in range(25))
    return f'{{\n  shipmentByTrackingNumber(trackingNumber: "T") {{\n    {fields}\n  }}\n}}'


async def test_a_worker_reports_what_validation_on_the_event_loop_reports(
    pool: ValidationPool,
) -> None:
    query = invalid_document("zz")
    document = parse(query)
    found = await pool.validate("alice", query, document, specified_rules)
    expected = validate_document(SCHEMA, document, specified_rules, 5)
    assert [e.formatted for e in found] == [e.formatted for e in expected]
    assert len(found) == 6  # five, then graphql-core's note that it stopped
    assert found[0].locations is not None and found[0].locations[0].line == 3
    assert pool.lane.in_use == 0


async def test_a_request_that_stops_waiting_gives_its_place_back_when_the_worker_is_done(
    pool: ValidationPool,
) -> None:
    await pool.validate("warm", "{ __typename }", parse("{ __typename }"), specified_rules)
    query = invalid_document("a")
    waiting = asyncio.create_task(pool.validate("alice", query, parse(query), specified_rules))
    await asyncio.sleep(0)  # it has taken its place
    assert pool.lane.in_use == 1
    waiting.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await waiting
    for _ in range(200):
        if pool.lane.in_use == 0:
            break
        await asyncio.sleep(0.05)
    assert pool.lane.in_use == 0  # given back once the worker finished
