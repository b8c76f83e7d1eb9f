"""Subscription resume cursors: opaque strings naming an offset of the changes topic.

The changes topic has one partition, so its offset totally orders every notice and is all a
client needs to resume. The version prefix lets a later format (e.g. several partitions)
reject old cursors with a clear error instead of misreading them.

A cursor names the last offset a client has (``after``); a resume starts at the next one.
``cursor_before`` makes the cursor of a position taken before anything was delivered
(``Query.liveCursor``), which on a log that never held a record is "before offset 0": the
one cursor naming no offset, decoded as ``BEFORE_FIRST``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from graph.subscriptions import BadCursor

_PREFIX: Final = "c1:"
#: The most digits an offset has: Kafka's offsets are signed 64-bit (at most 19 digits).
#: Checked before ``int()``, which refuses more than 4,300 digits with a ValueError of its
#: own (and would take quadratic time below that).
_MAX_DIGITS: Final = 19
#: What the cursor of an empty log names: the offset before the first (offset 0).
BEFORE_FIRST: Final = -1
#: What a client does about an expired cursor: subscribing without ``after`` would miss the
#: changes made during its refetch.
REFETCH_ADVICE: Final = (
    "Refetch the current state, then subscribe again with `after` set to a `liveCursor` "
    "taken before the refetch."
)


def encode_cursor(offset: int) -> str:
    """The cursor a client sends back (``after``) to receive the notices following ``offset``."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return _encoded(str(offset))


def cursor_before(next_offset: int) -> str:
    """The cursor that resumes at ``next_offset``, the offset of the next notice: it names
    the offset before (``after`` is the last one a client has), or ``BEFORE_FIRST`` when
    ``next_offset`` is 0 (an empty log), so that the notice at ``next_offset`` is replayed
    too. No other negative offset has a cursor."""
    if next_offset < 0:
        raise ValueError(f"next_offset must be >= 0, got {next_offset}")
    if next_offset == 0:
        return _encoded(str(BEFORE_FIRST))
    return encode_cursor(next_offset - 1)


def _encoded(offset_text: str) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset_text}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The changes-topic offset a cursor names (``BEFORE_FIRST`` for an empty log's);
    BadCursor for anything we did not issue."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadCursor("the cursor is not one this API issued") from exc
    if not text.startswith(_PREFIX):
        raise BadCursor("the cursor is not one this API issued")
    digits = text.removeprefix(_PREFIX)
    if digits == str(BEFORE_FIRST):
        return BEFORE_FIRST
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_DIGITS:
        raise BadCursor("the cursor is not one this API issued")
    return int(digits)
