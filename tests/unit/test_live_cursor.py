"""Resume cursors: what a client holds between connections."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.subscriptions import BadCursor
from web.live.cursor import decode_cursor, encode_cursor


@given(st.integers(min_value=0, max_value=2**63))
def test_a_cursor_names_the_offset_it_was_made_from(offset: int) -> None:
    assert decode_cursor(encode_cursor(offset)) == offset


def test_cursors_are_opaque_url_safe_text() -> None:
    cursor = encode_cursor(12345)
    assert "12345" not in cursor
    assert cursor.isascii() and not set(cursor) & set("+/= ")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"c1:").decode(),
        base64.urlsafe_b64encode(b"c1:-5").decode(),
        base64.urlsafe_b64encode(b"c1:12a").decode(),
        base64.urlsafe_b64encode(b"c2:12").decode(),
        base64.urlsafe_b64encode(b"12").decode(),
        base64.urlsafe_b64encode("c1:١٢".encode()).decode(),  # non-ASCII digits
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_anything_not_issued_here_is_bad_user_input(cursor: str) -> None:
    with pytest.raises(BadCursor) as raised:
        decode_cursor(cursor)
    assert raised.value.code == "BAD_USER_INPUT"


def test_negative_offsets_have_no_cursor() -> None:
    with pytest.raises(ValueError, match="offset"):
        encode_cursor(-1)
