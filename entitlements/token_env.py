"""The ``AUTH_*`` variables: which tokens the API accepts, as the environment gives them.

Separate from ``entitlements.tokens`` so that verifying stays pure: this module reads the
environment (through ``config.env``) and the public key file, once, at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

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


def _read_public_key(path: Path | None) -> Path | None:
    """Read and check the key file here, so a missing or bad key stops start-up."""
    if path is not None:
        try:
            load_rsa_public_key(path.read_text("ascii"))
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read {path}: {error}") from error
    return path


def _secret(value: str | None) -> str | None:
    if value is not None:
        check_secret(value)
    return value


class TokenEnvironment(EnvSettings):
    """``AUTH_*``; at least one key source is required (checked by ``TokenSettings``)."""

    auth_hs256_secret: Annotated[str | None, AfterValidator(_secret)] = Field(None, repr=False)
    auth_rs256_public_key_file: Annotated[Path | None, AfterValidator(_read_public_key)] = None
    auth_jwks_url: str | None = None
    auth_issuer: str = Field(DEFAULT_ISSUER, min_length=1)
    auth_audience: str = Field(DEFAULT_AUDIENCE, min_length=1)
    auth_leeway_seconds: int = Field(DEFAULT_LEEWAY_SECONDS, ge=0, le=MAX_LEEWAY_SECONDS)
    auth_jwks_cache_seconds: int = Field(DEFAULT_JWKS_CACHE_SECONDS, gt=0)

    @model_validator(mode="after")
    def _usable(self) -> TokenEnvironment:
        self.token_settings()  # a ConfigurationError (a ValueError) is reported with the rest
        return self

    def token_settings(self) -> TokenSettings:
        key_file = self.auth_rs256_public_key_file
        return TokenSettings(
            hs256_secret=self.auth_hs256_secret,
            rs256_public_key_pem=key_file.read_text("ascii") if key_file else None,
            jwks_url=self.auth_jwks_url,
            issuer=self.auth_issuer,
            audience=self.auth_audience,
            leeway_seconds=self.auth_leeway_seconds,
            jwks_cache_seconds=self.auth_jwks_cache_seconds,
        )


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
