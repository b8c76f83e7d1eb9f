"""Authentication at the HTTP edge: the ``Authorization`` header to a ``Caller``.

The I/O half of token checking: it builds the JWKS client (network) that
``entitlements.tokens.TokenVerifier`` is given, and parses the header. A request without a
header is anonymous (``None``): the GraphQL layer answers UNAUTHENTICATED for data fields, so
public fields such as the schema still work. A header that is present but unusable is an error,
never silently anonymous.
"""

from __future__ import annotations

import jwt
from anyio import to_thread

from entitlements.caller import Caller
from entitlements.errors import AuthenticationError
from entitlements.tokens import TokenSettings, TokenVerifier

#: Seconds to wait for the identity provider's JWKS endpoint.
JWKS_TIMEOUT_SECONDS = 5.0


def build_verifier(settings: TokenSettings) -> TokenVerifier:
    """The verifier for ``settings``, with a caching JWKS client when ``AUTH_JWKS_URL`` is set.

    Keys are cached per ``kid`` and the key set for ``jwks_cache_seconds``, so the endpoint is
    contacted at start-up's first request, on expiry and on an unknown ``kid`` only.
    """
    jwks_client = None
    if settings.jwks_url:
        jwks_client = jwt.PyJWKClient(
            settings.jwks_url,
            cache_keys=True,
            lifespan=settings.jwks_cache_seconds,
            timeout=JWKS_TIMEOUT_SECONDS,
        )
    return TokenVerifier(settings, jwks_client)


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
    if verifier.may_block:
        return await to_thread.run_sync(verifier.verify, token)
    return verifier.verify(token)
