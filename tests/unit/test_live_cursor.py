"""Resume cursors: what a client holds between connections."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.subscriptions import BadCursor
from web.live.cursor import BEFORE_FIRST, cursor_before, decode_cursor, encode_cursor


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
        # more digits than ``int()`` reads (a ValueError of its own), and than an offset has
        base64.urlsafe_b64encode(b"c1:" + b"9" * 5000).decode(),
        base64.urlsafe_b64encode(b"c1:" + b"1" * 20).decode(),
    ],
)
def test_anything_not_issued_here_is_bad_user_input(cursor: str) -> None:
    with pytest.raises(BadCursor) as raised:
        decode_cursor(cursor)
    assert raised.value.code == "BAD_USER_INPUT"


def test_negative_offsets_have_no_cursor() -> None:
    with pytest.raises(ValueError, match="offset"):
        encode_cursor(-1)


@given(st.integers(min_value=1, max_value=2**63))
def test_the_cursor_before_a_position_names_the_offset_before_it(position: int) -> None:
    """``after`` is the last offset a client has: a resume from it starts at ``position``."""
    assert decode_cursor(cursor_before(position)) == position - 1


def test_the_cursor_before_an_empty_logs_first_offset_names_no_offset() -> None:
    """A log that never held a record: its next offset is 0, and the cursor before it is the
    one cursor naming no offset, from which a resume starts at 0."""
    cursor = cursor_before(0)
    assert decode_cursor(cursor) == BEFORE_FIRST == -1
    assert cursor.isascii() and not set(cursor) & set("+/= ")
    with pytest.raises(ValueError, match="offset"):
        cursor_before(-1)
