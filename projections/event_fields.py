"""The kinds of value an event field may hold, as msgspec annotations: one place per rule.

Most rules are msgspec constraints (``Annotated[..., msgspec.Meta(...)]``), checked in C
while a record is parsed. Three kinds of value need a conversion msgspec has no native form
for, so their annotations are marker classes that ``decode_hook`` converts:

* ``Timestamp``: RFC 3339 *with* an offset (msgspec's own ``datetime`` also takes a space
  for ``T``, ``+0530`` and rounds beyond microseconds), converted to UTC and truncated to
  milliseconds, the precision of BSON dates, so a stored value compares equal to the
  decoded one after a round trip through MongoDB;
* ``Amount``: a plain decimal string (``"-12.50"``, ``"0"``; no exponent, spaces, ``NaN``
  or JSON number, all of which msgspec's own ``Decimal`` takes);
* ``CalendarDate``: ``YYYY-MM-DD`` naming a real day, kept as text.

The hook returns the plain value (``datetime``, ``Decimal``, ``str``), never an instance of
the marker: msgspec checks the hook's result with ``isinstance``, and a marker counts every
instance of its base as its own (see the metaclasses below), so what reducers receive and MongoDB
stores is exactly what a hand-written parser would give.

A conversion's error message is the refusal's reason as the dead-letter reader sees it.
"""

from __future__ import annotations

import functools
import re
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

import msgspec

from readmodel.quoting import quoted

#: A non-empty string (the contract has no optional empty strings).
Text = Annotated[str, msgspec.Meta(min_length=1)]
CountryCode = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{2}\Z", description="an ISO 3166-1 alpha-2 code")
]
CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}\Z", description="an ISO 4217 code")]
#: A finite number: JSON has no infinities, but ``1e400`` overflows to one.
FiniteNumber = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
#: The largest integer a BSON document holds (int64): a larger one could never be written, so
#: it is refused here, as a dead letter, rather than failing every write of its batch.
STORABLE_INT_MAX: Final = 2**63 - 1
PositiveInt = Annotated[int, msgspec.Meta(ge=1, le=STORABLE_INT_MAX)]
Count = Annotated[int, msgspec.Meta(ge=0, le=STORABLE_INT_MAX)]
#: What an identifier may not hold: the C0 controls (U+0000-U+001F) and DEL. Ids and keys
#: become BSON field names (``related.<kind>.<id>``, a fulfillment's ``handlingUnits``),
#: where NUL cannot be written at all: such a record would fail its batch on every retry.
#: The other controls are refused with it because no system's id holds them and, shown in
#: a portal, a log or a URL, a tab, line break or escape makes one id look like another.
_IDENTIFIER: Final = r"^[^\x00-\x1f\x7f]+\Z"
_IDENTIFIER_IS: Final = "an identifier (no control characters)"
#: The most characters an identifier may have (the contract bounds only the event id, at
#: 128). Ids are stored as ``_id`` (an entity's, a source's; ``<kind>/<id>`` of a search
#: document), and DocumentDB keeps ``_id`` in a PostgreSQL btree, whose rows hold at most
#: 2,704 bytes: a longer ``_id`` is refused on every retry of its write (a probe on the local
#: store: a 2,700-character ``_id`` was refused, code 261), and an insert of a document
#: MongoDB would take whole. 256 characters are at most 1 KiB of UTF-8, so any id fits that
#: row with room to spare, and the ids a document repeats in what the store adds after
#: planning (``lastEvent``'s ``source``; ``documents.MAX_DOCUMENT_BYTES``) stay a few KiB
#: however they are chosen. The same cap holds the indexed references (``trackingNumber``,
#: ``customerReference``, ``invoiceNumber``, ``customerId``): DocumentDB indexes a shortened
#: term of a longer value, but no tracking number, PO number or account is near 256
#: characters, and every id of the contract's examples and the simulator is under 40.
MAX_IDENTIFIER_LENGTH: Final = 256
#: A non-empty id or key (of an entity, a source, a customer, an SSCC, a code): text that
#: names something, never free text, so it holds no control character (``_IDENTIFIER``) and
#: is at most ``MAX_IDENTIFIER_LENGTH`` characters long.
Identifier = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_IDENTIFIER_LENGTH,
        pattern=_IDENTIFIER,
        description=_IDENTIFIER_IS,
    ),
]
EventId = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=128, pattern=_IDENTIFIER, description=_IDENTIFIER_IS),
]


# Each marker's metaclass counts every instance of the marker's base as the marker's own. The
# check is the base's own ``type.__instancecheck__`` (bound, so called as is: C, no Python
# frame), which halves what msgspec's check of each converted value costs.


class _AnyDatetime(type):
    __instancecheck__ = datetime.__instancecheck__


class _AnyDecimal(type):
    __instancecheck__ = Decimal.__instancecheck__


class _AnyStr(type):
    __instancecheck__ = str.__instancecheck__


class Timestamp(datetime, metaclass=_AnyDatetime):
    """Marker: an RFC 3339 timestamp with offset, decoded to an aware UTC ``datetime``."""


class Amount(Decimal, metaclass=_AnyDecimal):
    """Marker: a plain decimal string, decoded to a ``Decimal`` (the sign is kept)."""


class CalendarDate(str, metaclass=_AnyStr):
    """Marker: a calendar date ``YYYY-MM-DD``, kept as the text it was sent as."""


_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
#: ASCII digits only: ``\d`` alone takes any script's (Arabic-Indic, full-width), and
#: ``Decimal`` reads them as ASCII ones, so an amount off the contract was stored as another
#: text than the producer sent.
_DECIMAL: Final = re.compile(r"-?\d+(?:\.\d+)?\Z", re.ASCII)
_AMOUNT_EXPECTED: Final = 'expected a decimal string like "12.50"'
#: Digits an amount may have, before and after the point together: what a decimal128 (MongoDB's
#: decimal) holds. The reducers' arithmetic is exact up to far more (``reducers``), so no sum
#: of payments is rounded; a longer amount is refused here rather than failing its batch.
MAX_AMOUNT_DIGITS: Final = 34


@functools.lru_cache(maxsize=1024)
def parse_timestamp(text: str) -> datetime:
    """RFC 3339 with offset -> aware UTC datetime truncated to milliseconds.

    Raises ValueError with a short explanation otherwise. Cached: a record often repeats a
    time (the envelope's ``time`` and ``data.occurredAt``), and parsing is most of what
    decoding a timestamp costs (a refusal is not cached).

    A leap second (``23:59:60``, which RFC 3339 allows and ``datetime`` does not) is taken
    as the last millisecond of its minute: it sorts after every earlier instant and before
    the next minute, and BSON dates have no leap seconds either. Refused, it made a valid
    event a dead letter.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError("expected an RFC 3339 timestamp with offset, e.g. 2026-11-21T14:02:11Z")
    day, clock, fraction, offset = match.groups()
    if clock.endswith(":60"):
        clock, fraction, text = clock[:-2] + "59", "999", f"{day}T{clock[:-2]}59.999{offset}"
    try:
        if (fraction is None or len(fraction) == 3) and text[10] == "T" and offset != "z":
            # The usual forms: ``datetime`` reads them as they are (no truncation needed).
            return datetime.fromisoformat(text).astimezone(UTC)
        millis = (fraction or "").ljust(3, "0")[:3]
        offset = "+00:00" if offset in ("Z", "z") else offset
        return datetime.fromisoformat(f"{day}T{clock}.{millis}{offset}").astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("outside the years 1 to 9999 in UTC") from exc


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, for a reason (``integer 7``, ``string 'x'``, ``array``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return f"integer {quoted(value)}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {quoted(value)}"
    if isinstance(value, list):
        return "array"
    return "object"


def require_text(value: Any) -> str:
    """``value`` as a non-empty string; TypeError/ValueError (the reason) otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"expected string, got {json_kind(value)}")
    if not value:
        raise ValueError("must not be empty")
    return value


def _timestamp(value: Any) -> datetime:
    text = require_text(value)
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; got {quoted(text)}") from None


def _amount(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise TypeError(f"{_AMOUNT_EXPECTED}, got {json_kind(value)}")
    if not _DECIMAL.match(value):
        raise ValueError(f"{_AMOUNT_EXPECTED}, got {quoted(value)}")
    if len(value) - value.count("-") - value.count(".") > MAX_AMOUNT_DIGITS:
        raise ValueError(f"more than {MAX_AMOUNT_DIGITS} digits, got {quoted(value)}")
    return Decimal(value)


def _calendar_date(value: Any) -> str:
    text = require_text(value)
    try:
        if not _DATE.match(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date YYYY-MM-DD, got {quoted(text)}") from None
    return text


def decode_hook(kind: type, value: Any) -> Any:
    """msgspec's ``dec_hook``: the marker types' conversions (TypeError/ValueError refuse)."""
    if kind is Timestamp:
        if value.__class__ is str:  # the usual case first, with no detour for the reason
            try:
                return parse_timestamp(value)
            except ValueError:
                pass
        return _timestamp(value)
    if kind is Amount:
        return _amount(value)
    if kind is CalendarDate:
        return _calendar_date(value)
    raise NotImplementedError(f"no conversion for {kind!r}")
