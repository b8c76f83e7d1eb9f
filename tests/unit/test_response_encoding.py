"""How the endpoint writes a response (HTTP body or WebSocket message)."""

from __future__ import annotations

import json

from graph.freshness import FreshnessCopy
from tests.helpers import SECRET
from web.app import graphql_endpoint, new_document_cache
from web.metrics import Metrics
from web.settings import load_settings


def test_a_response_holding_an_integer_beyond_64_bits_is_still_written() -> None:
    """orjson refuses integers beyond 64 bits (a 500 over HTTP, no message at all over a
    WebSocket); JSON has no such bound, so the response is written all the same."""
    settings = load_settings({"AUTH_HS256_SECRET": SECRET})
    _, endpoint = graphql_endpoint(
        settings, Metrics(), new_document_cache(settings), FreshnessCopy(max_age_seconds=5)
    )
    body = {"errors": [{"message": "é", "extensions": {"actual": 2**64, "small": [-(2**70)]}}]}
    assert json.loads(endpoint.encode_json(body)) == body
    assert endpoint.encode_json({"data": {"n": 1}}) == '{"data":{"n":1}}'
