"""The ``AUTH_*`` variables: which tokens the API accepts, as the environment gives them.

Separate from ``entitlements.tokens`` so that verifying stays pure: this module reads the
environment (through ``config.env``) and the public key file, once, at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from config.env import EnvReader, EnvSettings
from entitlements.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_JWKS_CACHE_SECONDS,
    DEFAULT_LEEWAY_SECONDS,
    MAX_LEEWAY_SECONDS,
    TokenSettings,
    check_secret,
    load_rsa_public_key,
)


def _read_public_key(path: Any) -> Any:
    """The key file's text in place of its path: read once, here, and checked, so a missing
    or bad key stops start-up with the path in the message."""
    if not isinstance(path, str | Path):
        return path  # None, or a wrong type pydantic reports
    try:
        pem = Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    load_rsa_public_key(pem)
    return pem


def _secret(value: str | None) -> str | None:
    if value is not None:
        check_secret(value)
    return value


class TokenEnvironment(EnvSettings):
    """``AUTH_*``; at least one key source is required (checked by ``TokenSettings``)."""

    auth_hs256_secret: Annotated[str | None, AfterValidator(_secret)] = Field(None, repr=False)
    #: ``AUTH_RS256_PUBLIC_KEY_FILE`` names the file; the field holds the PEM text read from it.
    auth_rs256_public_key_pem: Annotated[
        str | None, StringConstraints(strip_whitespace=False), BeforeValidator(_read_public_key)
    ] = Field(None, validation_alias="AUTH_RS256_PUBLIC_KEY_FILE")
    auth_jwks_url: str | None = None
    auth_issuer: str = Field(DEFAULT_ISSUER, min_length=1)
    auth_audience: str = Field(DEFAULT_AUDIENCE, min_length=1)
    auth_leeway_seconds: int = Field(DEFAULT_LEEWAY_SECONDS, ge=0, le=MAX_LEEWAY_SECONDS)
    auth_jwks_cache_seconds: int = Field(DEFAULT_JWKS_CACHE_SECONDS, gt=0)
    _token_settings: TokenSettings | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _usable(self) -> TokenEnvironment:
        # Built (and the key parsed) once; a ConfigurationError (a ValueError) is reported
        # with the rest. Each field ``auth_x`` is the verifier's setting ``x``.
        given = {
            name.removeprefix("auth_"): getattr(self, name) for name in type(self).model_fields
        }
        self._token_settings = TokenSettings(**given)
        return self

    def token_settings(self) -> TokenSettings:
        assert self._token_settings is not None  # set by ``_usable`` on every valid model
        return self._token_settings


def read_token_settings(reader: EnvReader) -> TokenSettings | None:
    """The token settings, or None after a problem (kept by ``reader``)."""
    read = reader.read(TokenEnvironment)
    return read.token_settings() if read is not None else None


def load_token_settings(environ: Mapping[str, str] | None = None) -> TokenSettings:
    """For tools that need only the token settings (minting); ``SettingsError`` naming each
    bad ``AUTH_*`` variable."""
    reader = EnvReader("token", environ)
    settings = read_token_settings(reader)
    reader.raise_problems()
    assert settings is not None
    return settings
