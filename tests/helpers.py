"""Helpers shared by unit and integration tests: one way to make a caller, a token, a folded
document. Test modules import from here (or from a ``*_harness`` module); never from another
test module."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import bson
from bson.codec_options import CodecOptions

from entitlements.caller import Caller
from entitlements.mint import mint_token
from entitlements.tokens import TokenSettings
from projections.events import Event
from projections.reducers import apply
from projections.status_mapping import StatusMapping, load_status_mapping

#: The HS256 secret every test token is signed with, and the API processes tests start trust.
SECRET: Final = "portal-tests-shared-secret-0123456789abcdef"
TOKENS: Final = TokenSettings(hs256_secret=SECRET)
#: The packaged status map, as the projector loads it by default.
MAPPING: Final = load_status_mapping()
_BSON: Final[CodecOptions[dict[str, Any]]] = CodecOptions(tz_aware=True)


def caller(
    *customers: str,
    roles: Iterable[str] = ("viewer",),
    subject: str = "alice",
    valid_for: timedelta = timedelta(hours=1),
) -> Caller:
    """A verified caller acting for ``customers`` with ``roles``."""
    return Caller(
        subject=subject,
        customers=frozenset(customers),
        roles=frozenset(roles),
        expires_at=datetime.now(UTC) + valid_for,
    )


def token_for(
    customers: Iterable[str],
    roles: Iterable[str] | None = None,
    *,
    tokens: TokenSettings = TOKENS,
    subject: str = "alice",
    ttl_seconds: int = 3600,
) -> str:
    """A bearer token the API started with ``tokens`` (default: ``SECRET``) accepts."""
    return mint_token(
        tokens,
        subject=subject,
        customers=list(customers),
        roles=list(roles or ["viewer"]),
        ttl_seconds=ttl_seconds,
    )


def fold(
    *events: Event,
    start: dict[str, Any] | None = None,
    mapping: StatusMapping = MAPPING,
    stored: bool = False,
) -> dict[str, Any]:
    """Apply ``events`` in the given order to ``start`` (None: no document yet).

    ``stored`` makes it behave like the projector: every intermediate document makes a BSON
    round trip, and each call is checked not to mutate the document it was given.
    """
    doc = copy.deepcopy(start)
    for event in events:
        before = copy.deepcopy(doc) if stored else None
        new = apply(doc, event, mapping)
        if stored:
            assert doc == before, "apply() mutated its input document"
            new = bson.decode(bson.encode(new), codec_options=_BSON)
        doc = new
    assert doc is not None
    return doc
