"""A client's value an error message names is quoted cut short: its first and last 50
characters and its length. Whole, a 100 KB id made each refusal as large as the request."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.schema import representation_number
from resolvers.errors import BadUserInput
from web.inputs import screen_variables
from web.live.closes import bad_request, duplicate_id
from web.operation_log import log_operation
from web.persisted import DocumentRequest, PersistedOperations, PersistedQueryError

LONG = "x" * 50_000 + "y" * 50_000
QUOTE = f"{'x' * 50!r}...{'y' * 50!r} (100,000 characters)"


def test_an_unknown_document_id_is_quoted_cut_short() -> None:
    with pytest.raises(PersistedQueryError) as caught:
        PersistedOperations().document(DocumentRequest(None, LONG), may_send_free_form=True)
    assert caught.value.code == "PERSISTED_QUERY_NOT_FOUND"
    assert f"the documentId {QUOTE}: the app" in str(caught.value)


def test_a_short_document_id_is_quoted_whole() -> None:
    with pytest.raises(PersistedQueryError) as caught:
        PersistedOperations().document(DocumentRequest(None, "nope"), may_send_free_form=True)
    assert "the documentId 'nope': the app" in str(caught.value)


def test_an_unknown_typename_is_quoted_cut_short() -> None:
    with pytest.raises(BadUserInput) as caught:
        representation_number({"__typename": LONG, "id": "1"})
    assert caught.value.message.startswith(f"has __typename {QUOTE}; expected one of Invoice")


def test_a_typename_that_is_not_a_string_is_named_by_its_kind() -> None:
    with pytest.raises(BadUserInput) as caught:
        representation_number({"__typename": {"x": LONG}, "id": "1"})
    assert caught.value.message.startswith("has __typename an object; expected one of")


def test_thousands_of_unexpected_keys_name_three_each_cut_short() -> None:
    keys = {f"{n:05}{LONG}": 1 for n in range(1_000)}
    with pytest.raises(BadUserInput) as caught:
        representation_number({"__typename": "Order", "id": "1", **keys})
    message = caught.value.message
    assert message.startswith("has keys this subgraph does not resolve by: '00000xxx")
    assert "(100,005 characters), " in message
    assert message.endswith(" and 997 more (only id or orderId)")
    assert len(message) < 1_000


def test_the_operation_log_quotes_a_long_operation_name_cut_short_and_a_short_one_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every query's log line names its operation, which is the client's to choose: a name of
    100 KB was written whole, on every request."""
    with caplog.at_level(logging.INFO, logger="web.operations"):
        for name in (LONG, "OpenOrders", None):
            log_operation(name, "query", 0.01, None, ())
    assert [getattr(r, "operation_name", "-") for r in caplog.records] == [
        QUOTE,
        "OpenOrders",
        None,
    ]


def test_a_long_variable_name_is_quoted_cut_short() -> None:
    (error,) = screen_variables({LONG: "\x00"}, 1_000).errors
    assert error.message == (
        f"Variable {'$' + 'x' * 49!r}...{'y' * 50!r} (100,001 characters) holds the NUL "
        "character (\\u0000), which no argument accepts."
    )


@given(st.text(min_size=1, max_size=2_000))
def test_close_reasons_quoting_a_client_fit_a_close_frame_whole_characters(text: str) -> None:
    """Any id or Strawberry reason, of any characters: at most 123 bytes of UTF-8, which
    the reason (a ``str``) encodes to without error, so no character was cut in two."""
    for reason in (bad_request(text), duplicate_id(text)):
        assert len(reason.reason.encode()) <= 123
    assert bad_request(text).reason.removesuffix("...") in text
