"""Errors raised by entitlement checks and by their configuration.

::

    EntitlementError                 what a client may be told (``code`` is stable)
    ├── AuthenticationError          UNAUTHENTICATED: missing, malformed, expired or forged token
    │   └── SigningKeysUnavailableError  the identity provider's keys could not be fetched
    └── ForbiddenError               FORBIDDEN: a valid caller asked for something not theirs

    ConfigurationError (ValueError)  start-up only: bad policy file or auth settings

Messages of ``EntitlementError`` are written to be shown to the caller as they are: they never
echo a token, a secret or a key, and never say which of several checks failed in a way that
helps forge a token (an audience mismatch and a wrong issuer read the same).
"""

from __future__ import annotations


class EntitlementError(Exception):
    """A request was refused; ``code`` is the machine-readable reason given to the client."""

    code: str = "FORBIDDEN"


class AuthenticationError(EntitlementError):
    """The caller could not be identified: no usable token."""

    code = "UNAUTHENTICATED"


class SigningKeysUnavailableError(AuthenticationError):
    """The JWKS endpoint could not be reached, so no token can be checked right now.

    Still an authentication failure for the client (nothing is served), but the web layer may
    answer 503 instead of 401 so that clients retry rather than log the user out.
    """


class ForbiddenError(EntitlementError):
    """The caller is known but the policy does not let them read this."""

    code = "FORBIDDEN"


class ConfigurationError(ValueError):
    """The entitlement policy or the token settings are unusable; the service must not start.

    Not an ``EntitlementError``: it is never shown to an API client. A ``ValueError`` so that
    settings loaders that collect bad values report it with the others.
    """
