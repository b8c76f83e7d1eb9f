"""Bearer token verification: from a JWT to a ``Caller``, or ``AuthenticationError``.

Pure given its keys: the settings hold the key material, and fetching JWKS keys is delegated
to a ``SigningKeySource`` the web layer builds (``web.auth.build_verifier``).

Algorithm rules (why the header's ``alg`` never decides how a signature is checked):

* each configured key has exactly one algorithm: the shared secret HS256, an RSA public key
  (file or JWKS) RS256;
* the header's ``alg`` only selects *which configured key* to try, and PyJWT is then called
  with ``algorithms=[that key's algorithm]``; ``none`` and any other algorithm are refused;
* so a token "signed" with HS256 using the RSA public key as the secret is refused: either no
  secret is configured (algorithm not accepted) or it is checked against the real secret.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from entitlements.caller import Caller
from entitlements.errors import (
    AuthenticationError,
    ConfigurationError,
    SigningKeysUnavailableError,
)

DEFAULT_ISSUER: Final = "portal-read-model-local"
DEFAULT_AUDIENCE: Final = "portal-api"
DEFAULT_LEEWAY_SECONDS: Final = 30
DEFAULT_JWKS_CACHE_SECONDS: Final = 300
#: RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_SECRET_BYTES: Final = 32
MIN_RSA_KEY_BITS: Final = 2048
MAX_LEEWAY_SECONDS: Final = 300
#: Claims without which a token is refused (``iat``/``nbf`` are checked when present).
REQUIRED_CLAIMS: Final = ("exp", "iss", "aud", "sub")


class SigningKeySource(Protocol):
    """Finds the public key for a token (``jwt.PyJWKClient`` in production, a fake in tests)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


@dataclass(frozen=True)
class TokenSettings:
    """Which tokens the API accepts. At least one key source is required: with none the API
    would have to accept every token or none, so construction fails instead."""

    hs256_secret: str | None = field(default=None, repr=False)
    rs256_public_key_pem: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS
    jwks_cache_seconds: int = DEFAULT_JWKS_CACHE_SECONDS

    def __post_init__(self) -> None:
        if not (self.hs256_secret or self.rs256_public_key_pem or self.jwks_url):
            raise ConfigurationError(
                "no token key configured: set AUTH_HS256_SECRET, AUTH_RS256_PUBLIC_KEY_FILE "
                "or AUTH_JWKS_URL (the API refuses to start rather than accept any token)"
            )
        if self.rs256_public_key_pem and self.jwks_url:
            raise ConfigurationError("set only one of AUTH_RS256_PUBLIC_KEY_FILE and AUTH_JWKS_URL")
        if self.hs256_secret is not None:
            check_secret(self.hs256_secret)
        if self.rs256_public_key_pem is not None:
            load_rsa_public_key(self.rs256_public_key_pem)
        if self.jwks_url is not None:
            check_jwks_url(self.jwks_url)
        if not self.issuer:
            raise ConfigurationError("AUTH_ISSUER: must not be empty")
        if not self.audience:
            raise ConfigurationError("AUTH_AUDIENCE: must not be empty")
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ConfigurationError(
                f"AUTH_LEEWAY_SECONDS: must be between 0 and {MAX_LEEWAY_SECONDS}"
            )
        if self.jwks_cache_seconds <= 0:
            raise ConfigurationError("AUTH_JWKS_CACHE_SECONDS: must be positive")


class TokenVerifier:
    """Checks bearer tokens against the configured keys; thread-safe, no state per token."""

    def __init__(
        self, settings: TokenSettings, jwks_client: SigningKeySource | None = None
    ) -> None:
        if settings.jwks_url and jwks_client is None:
            raise ConfigurationError(
                "AUTH_JWKS_URL is set but no JWKS client was given (use web.auth.build_verifier)"
            )
        if jwks_client is not None and settings.rs256_public_key_pem:
            raise ConfigurationError("give either an RS256 public key or a JWKS client, not both")
        self._settings = settings
        self._secret = settings.hs256_secret
        self._rsa_key = (
            load_rsa_public_key(settings.rs256_public_key_pem)
            if settings.rs256_public_key_pem
            else None
        )
        self._jwks = jwks_client

    @property
    def may_block(self) -> bool:
        """True when verifying can fetch keys over the network (JWKS cache miss), so async
        callers should run ``verify`` in a worker thread."""
        return self._jwks is not None

    def remembered(self, token: str) -> Caller | None:
        """The caller already known for ``token`` without verifying it again (none here; a
        verifier that remembers verdicts answers from them, see ``web.auth``)."""
        return None

    def verify(self, token: str) -> Caller:
        """The caller the token vouches for; ``AuthenticationError`` with a safe message."""
        if not token:
            raise AuthenticationError("missing bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AuthenticationError("malformed bearer token") from error
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256" and self._secret:
            key = self._secret
        elif algorithm == "RS256" and self._rsa_key is not None:
            key = self._rsa_key
        elif algorithm == "RS256" and self._jwks is not None:
            key = self._jwks_key(token)
        else:
            raise AuthenticationError("token signing algorithm is not accepted")
        settings = self._settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthenticationError("token has expired") from error
        except jwt.ImmatureSignatureError as error:
            raise AuthenticationError("token is not valid yet") from error
        except jwt.MissingRequiredClaimError as error:
            raise AuthenticationError(f"token lacks the {error.claim!r} claim") from error
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as error:
            raise AuthenticationError("token was not issued for this API") from error
        except jwt.PyJWTError as error:
            raise AuthenticationError("invalid bearer token") from error
        return caller_from_claims(claims, leeway_seconds=settings.leeway_seconds)

    def _jwks_key(self, token: str) -> jwt.PyJWK:
        assert self._jwks is not None
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise SigningKeysUnavailableError(
                "the identity provider's signing keys are unavailable; try again later"
            ) from error
        except jwt.PyJWKClientError as error:
            raise AuthenticationError("token signing key is not known") from error
        except jwt.PyJWTError as error:
            raise AuthenticationError("invalid bearer token") from error
        # PyJWK infers RS256 for an RSA key without ``alg``; any other ``alg`` (PS256, HS256
        # from a symmetric ``oct`` key, ES256...) is refused even though PyJWT supports it.
        if signing_key.key_type != "RSA" or signing_key.algorithm_name != "RS256":
            raise AuthenticationError("token signing key is not accepted")
        return signing_key


def caller_from_claims(claims: Mapping[str, Any], *, leeway_seconds: int = 0) -> Caller:
    """Build the caller from already-verified claims, checking the shape of our own claims.

    A signature proves who issued the token, not that its claims are sane: an ``exp`` beyond
    the year 9999 (``10**12``) is refused here as any unusable token is.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise AuthenticationError("token 'sub' claim must be a non-empty string")
    leeway = timedelta(seconds=leeway_seconds)
    try:
        expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError) as error:
        raise AuthenticationError("token 'exp' claim is out of range") from error
    if expires_at > datetime.max.replace(tzinfo=UTC) - leeway:
        raise AuthenticationError("token 'exp' claim is out of range")
    return Caller(
        subject=subject,
        customers=_string_list_claim(claims, "customers"),
        roles=_string_list_claim(claims, "roles"),
        expires_at=expires_at,
        leeway=leeway,
    )


def load_rsa_public_key(pem: str) -> RSAPublicKey:
    """Parse and check a PEM public key; ``ConfigurationError`` unless RSA of a safe size."""
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as error:
        raise ConfigurationError("AUTH_RS256_PUBLIC_KEY_FILE: not a PEM public key") from error
    if not isinstance(key, RSAPublicKey):
        raise ConfigurationError("AUTH_RS256_PUBLIC_KEY_FILE: not an RSA public key")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ConfigurationError(
            f"AUTH_RS256_PUBLIC_KEY_FILE: RSA key must have at least {MIN_RSA_KEY_BITS} bits"
        )
    return key


def check_jwks_url(url: str) -> None:
    """The keys every token is checked with come from this URL: over plain http anyone on
    the path could hand the API a key of their own and mint tokens for every customer, so
    it must be https, except on this machine (a local identity provider, the tests)."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and _is_loopback(parsed.hostname):
        return
    raise ConfigurationError(
        "AUTH_JWKS_URL: must be an https URL (plain http only on loopback: 127.0.0.1, ::1, "
        "localhost)"
    )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secret(secret: str) -> None:
    """``ConfigurationError`` unless ``secret`` is long enough and not a key pasted by mistake."""
    if len(secret.encode("utf-8")) < MIN_HS256_SECRET_BYTES:
        raise ConfigurationError(
            f"AUTH_HS256_SECRET: must be at least {MIN_HS256_SECRET_BYTES} bytes long"
        )
    if "-----BEGIN" in secret or secret.startswith("ssh-"):
        raise ConfigurationError("AUTH_HS256_SECRET: looks like a key file, not a shared secret")


def _string_list_claim(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name)
    if value is None:
        raise AuthenticationError(f"token lacks the {name!r} claim")
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise AuthenticationError(f"token {name!r} claim must be a list of strings")
    return frozenset(value)
