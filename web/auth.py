"""Authentication at the HTTP edge: the ``Authorization`` header to a ``Caller``.

The I/O half of token checking: it builds the JWKS client (network) that
``entitlements.tokens.TokenVerifier`` is given, and parses the header. A request without a
header is anonymous (``None``): the GraphQL layer answers UNAUTHENTICATED for data fields, so
public fields such as the schema still work. A header that is present but unusable is an error,
never silently anonymous.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import jwt
from anyio import to_thread

from caching.bounded_lru import BoundedLRU
from entitlements.caller import Caller
from entitlements.errors import AuthenticationError
from entitlements.tokens import TokenSettings, TokenVerifier

#: Seconds to wait for the identity provider's JWKS endpoint.
JWKS_TIMEOUT_SECONDS = 5.0
#: After a fetch of the key set, how long a token naming a ``kid`` it lacks is refused without
#: fetching it again (PyJWT's ``cooldown_duration``, 30 s by default). An identity provider
#: that publishes a key and signs with it at once has its new tokens refused for at most this
#: long; callers presenting made-up ``kid`` values make each process fetch at most once per
#: this long (with 0, once per request).
JWKS_REFETCH_COOLDOWN_SECONDS: Final = 5.0
#: Distinct tokens whose verification is remembered, and for how long at most.
REMEMBERED_TOKENS: Final = 1024
REMEMBER_SECONDS: Final = 60.0


class RememberingVerifier(TokenVerifier):
    """A ``TokenVerifier`` that remembers, for a minute, the callers of tokens it verified.

    A portal sends the same bearer token with every request until it expires; checking its
    signature and claims again each time was about 5 % of a tracking lookup's CPU. The
    remembered caller is the one the full check produced for exactly that token (signature
    included), and is given again only while the token is unexpired (``valid_until``, the
    instant every other check uses) and for at most ``REMEMBER_SECONDS``, so a signing key
    withdrawn from the identity provider's key set stops being honoured about as soon as the
    JWKS cache would notice it. Refused tokens are not remembered.
    """

    def __init__(
        self,
        settings: TokenSettings,
        jwks_client: jwt.PyJWKClient | None = None,
        *,
        size: int = REMEMBERED_TOKENS,
        max_age_seconds: float = REMEMBER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(settings, jwks_client)
        self._max_age = max_age_seconds
        self._clock = clock
        self._now = now
        self._callers: BoundedLRU[str, tuple[Caller, float]] = BoundedLRU(size)
        self._lock = threading.Lock()  # ``verify`` may run in worker threads (JWKS)

    def remembered(self, token: str) -> Caller | None:
        """The caller verified for ``token`` recently, if it is still valid; no verification."""
        with self._lock:
            entry = self._callers.get(token)
            if entry is None:
                return None
            caller, verified_at = entry
            if self._clock() - verified_at >= self._max_age or caller.valid_until <= self._now():
                self._callers.discard(token)
                return None
            return caller

    def verify(self, token: str) -> Caller:
        caller = self.remembered(token)
        if caller is not None:
            return caller
        caller = super().verify(token)
        with self._lock:
            self._callers.put(token, (caller, self._clock()))
        return caller


def build_verifier(settings: TokenSettings) -> TokenVerifier:
    """The verifier for ``settings``, with a caching JWKS client when ``AUTH_JWKS_URL`` is set.

    The key set is cached for ``jwks_cache_seconds``, so the endpoint is contacted at the first
    request, on expiry and on an unknown ``kid`` (at most once per
    ``JWKS_REFETCH_COOLDOWN_SECONDS``) only. Every token's key is looked up in that set:
    PyJWT's per-``kid`` cache (``cache_keys``) never expires, so a key withdrawn from the set
    would stay trusted for as long as the process runs.
    """
    jwks_client = None
    if settings.jwks_url:
        jwks_client = jwt.PyJWKClient(
            settings.jwks_url,
            cache_keys=False,
            lifespan=settings.jwks_cache_seconds,
            timeout=JWKS_TIMEOUT_SECONDS,
            cooldown_duration=JWKS_REFETCH_COOLDOWN_SECONDS,
        )
    return RememberingVerifier(settings, jwks_client)


def bearer_token(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthenticationError("Authorization header must be 'Bearer <token>'")
    return token


async def authenticate(header: str | None, verifier: TokenVerifier) -> Caller | None:
    """The caller for a request's ``Authorization`` header; None when there is no header.

    A verifier that may fetch JWKS keys runs in a worker thread so one slow identity provider
    cannot stall every request."""
    if header is None:
        return None
    token = bearer_token(header)
    caller = verifier.remembered(token)
    if caller is not None:
        return caller  # no worker thread needed for a token verified a moment ago
    if verifier.may_block:
        return await to_thread.run_sync(verifier.verify, token)
    return verifier.verify(token)
