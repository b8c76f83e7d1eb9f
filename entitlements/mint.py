"""Mint an HS256 bearer token for local use: ``python -m entitlements.mint --customers ACME``.

Signs with ``AUTH_HS256_SECRET`` and the issuer/audience the API checks (``AUTH_ISSUER``,
``AUTH_AUDIENCE``), so a minted token is accepted by an API started with the same
environment. There is deliberately no default secret here: the demo command provides one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import jwt

from entitlements.errors import ConfigurationError
from entitlements.token_env import load_token_settings
from entitlements.tokens import TokenSettings

MAX_TTL_SECONDS = 30 * 24 * 3600


def mint_token(
    settings: TokenSettings,
    *,
    subject: str,
    customers: Iterable[str],
    roles: Iterable[str],
    ttl_seconds: int,
    now: datetime | None = None,
) -> str:
    """A signed token carrying the claims ``TokenVerifier`` requires."""
    if not settings.hs256_secret:
        raise ConfigurationError("AUTH_HS256_SECRET is not set: cannot mint an HS256 token")
    if not subject:
        raise ValueError("subject must not be empty")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
        "customers": sorted(set(customers)),
        "roles": sorted(set(roles)),
    }
    return jwt.encode(claims, settings.hs256_secret, algorithm="HS256")


def _names(raw: str) -> list[str]:
    return [name.strip() for name in raw.split(",") if name.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mint-token", description="Print an HS256 bearer token for the portal API."
    )
    parser.add_argument("--sub", required=True, help="subject (user id)")
    parser.add_argument(
        "--customers", default="", help="comma-separated customer ids, e.g. ACME,GLOBEX"
    )
    parser.add_argument("--roles", default="viewer", help="comma-separated roles (viewer)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = _parser().parse_args(argv)
    try:
        if not environ.get("AUTH_HS256_SECRET"):
            raise ConfigurationError("AUTH_HS256_SECRET is not set: cannot mint an HS256 token")
        token = mint_token(
            load_token_settings(environ),
            subject=args.sub,
            customers=_names(args.customers),
            roles=_names(args.roles),
            ttl_seconds=args.ttl,
        )
    except ValueError as error:
        print(f"mint-token: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
