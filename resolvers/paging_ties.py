"""The tie-breaker's axis: ``_id`` strings as whole numbers, so a window can be narrowed
inside one sort value (pure logic, no I/O).

Why: a window of the sort field is at least one distinct value wide (a millisecond, or a day
for ISO date strings), and DocumentDB sorts everything a window's index scan matched. When
many documents share a value (a customer's 1,400 invoices due on each day), every page sorted
that whole day. Every sort already breaks ties with ``_id`` and every sort index ends with it,
so a window inside one value can be bounded on ``_id`` as well (``paging_windows.Ties``): one
short range of the index, whatever the number of ties.

The axis reads the first ``TIE_CHARS`` characters of an id as the digits of a number whose
radixes follow a *template*, an id of the same list (the page's position, or the first
document a hint remembers): base 10 where the template has a decimal digit, base 127
elsewhere (characters 1-127). So ids made of a prefix and a counter (``IN-BIGCO-0012345``)
are consecutive numbers, and a window of 30 ids is 30 units wide; in plain base 127, each
carry of the counter would leave a gap of 117 units empty, and a window sized from the
page's spacing would stop short of the next hundred. ``tie_bound`` maps a number back to an
ASCII string of the template's shape; larger numbers give larger strings, so bounds computed
on the axis are ordered as the numbers are. The axis only sizes windows: an id it maps
imprecisely (another shape, longer than ``TIE_CHARS``, beyond ASCII) gives a window too wide
or too narrow, never a wrong page, because every window is stated with real bounds that
partition the ties (``paging_windows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final

#: Characters of an id the axis reads: enough to tell apart ids that differ only in a long
#: counter after a long prefix, or by 128 bits of a UUID.
TIE_CHARS: Final = 32
_WIDE: Final = 127


def _shape(doc_id: str) -> tuple[int, ...]:
    """The radix of each of the axis's positions for ids shaped like ``doc_id``."""
    padded = doc_id[:TIE_CHARS].ljust(TIE_CHARS, "\x01")
    return tuple(10 if "0" <= char <= "9" else _WIDE for char in padded)


#: ``_shape`` of the templates (a page's position, a hint's first id): a few per list.
_radixes = lru_cache(maxsize=256)(_shape)


def tie_point(doc_id: str, template: str) -> int:
    """``doc_id`` on the tie axis of ``template``'s shape (ids are strings in every
    projection). A character outside its position's range (below ``0`` or above ``9`` where
    the template has a digit, beyond ASCII elsewhere) saturates the rest of the id at that
    end of the range, so no two ids are ever reversed, whatever the template."""
    point = 0
    high: bool | None = None  # saturated: every later position its highest digit, or 0
    shape = doc_id[:TIE_CHARS].ljust(TIE_CHARS, "\x01")
    for char, radix in zip(shape, _radixes(template), strict=True):
        low = ord("0") if radix == 10 else 1
        digit = ord(char) - low
        if high is None and not 0 <= digit < radix:
            high = digit >= radix
        if high is not None:
            digit = radix - 1 if high else 0
        point = point * radix + digit
    return point


def tie_bound(point: int, template: str) -> str | None:
    """The id string at ``point`` of the tie axis of ``template``'s shape; None beyond its
    ends (no bound there)."""
    if point < 0:
        return None
    chars: list[str] = []
    for radix in reversed(_radixes(template)):
        point, digit = divmod(point, radix)
        chars.append(chr(digit + ord("0")) if radix == 10 else chr(digit + 1))
    if point:
        return None
    return "".join(reversed(chars)).rstrip("\x01")


def tie_spacing(keys: Sequence[tuple[int, str]], template: str) -> float | None:
    """The span of the tie axis (of ``template``'s shape) per document among ties: ``keys``
    are (sort value's axis point, ``_id``) in reading order; every run of equal values adds
    its ids' span and its length less one. None when no two documents share a value, or when
    the tied ids are not all of ``template``'s shape (``regular``): ids of mixed shapes
    (UUIDs, hex, counters of different lengths) or beyond ASCII map so unevenly that a width
    learned from some of them says nothing of the next; their pages read whole values."""
    span = 0
    steps = 0
    run_start = 0
    for n in range(1, len(keys) + 1):
        if n < len(keys) and keys[n][0] == keys[run_start][0]:
            continue
        if n - run_start > 1:
            run = [doc_id for _, doc_id in keys[run_start:n]]
            if not all(regular(doc_id, template) for doc_id in run):
                return None
            span += abs(tie_point(run[-1], template) - tie_point(run[0], template))
            steps += n - 1 - run_start
        run_start = n
    return span / steps if steps else None


def regular(doc_id: str, template: str) -> bool:
    """Whether ``doc_id`` has ``template``'s shape on the tie axis: ASCII, with its decimal
    digits where the template has them (a prefix and a counter of one length), so the axis
    is even between them."""
    head = doc_id[:TIE_CHARS]
    return head.isascii() and "\x00" not in head and _shape(head) == _radixes(template)
