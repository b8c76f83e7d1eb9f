"""Subscription resume cursors: opaque strings naming an offset of the changes topic.

The changes topic has one partition, so its offset totally orders every notice and is all a
client needs to resume. The version prefix lets a later format (e.g. several partitions)
reject old cursors with a clear error instead of misreading them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from graph.subscriptions import BadCursor

_PREFIX: Final = "c1:"


def encode_cursor(offset: int) -> str:
    """The cursor a client sends back (``after``) to receive the notices following ``offset``."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The changes-topic offset a cursor names; BadCursor for anything we did not issue."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadCursor("the cursor is not one this API issued") from exc
    if not text.startswith(_PREFIX):
        raise BadCursor("the cursor is not one this API issued")
    digits = text.removeprefix(_PREFIX)
    if not digits.isascii() or not digits.isdigit():
        raise BadCursor("the cursor is not one this API issued")
    return int(digits)
