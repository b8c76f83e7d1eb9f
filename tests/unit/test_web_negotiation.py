"""Which media type a client gets, per the GraphQL-over-HTTP rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.negotiation import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    choose_response_type,
    is_json_body,
    prefers_html,
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.5, application/json", JSON),
        ("application/json;q=0.2, application/graphql-response+json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("text/html, */*;q=0.8", JSON),
        ("Application/GraphQL-Response+JSON", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("text/plain", None),
        ("application/json;q=0", None),
        ("application/json;q=0, */*", GRAPHQL_RESPONSE_JSON),
        ("application/xml, text/csv", None),
    ],
)
def test_response_type(accept: str | None, expected: str | None) -> None:
    assert choose_response_type(accept) == expected


@given(st.text(max_size=200))
def test_any_accept_header_gives_a_known_type_or_none(accept: str) -> None:
    assert choose_response_type(accept) in (JSON, GRAPHQL_RESPONSE_JSON, None)


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/json; charset=latin-1", False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("", False),
        (None, False),
    ],
)
def test_json_body(content_type: str | None, ok: bool) -> None:
    assert is_json_body(content_type) is ok


def test_browser_navigation_prefers_html() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert prefers_html(browser)
    assert not prefers_html("application/json")
    assert not prefers_html(None)
