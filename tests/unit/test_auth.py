"""The HTTP edge of authentication: header parsing and the JWKS-backed verifier."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from entitlements.errors import AuthenticationError, SigningKeysUnavailableError
from entitlements.tokens import TokenSettings, TokenVerifier
from web.auth import authenticate, build_verifier

SECRET = "test-secret-that-is-long-enough-for-hs256"


def token_claims() -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "iss": "portal-read-model-local",
        "aud": "portal-api",
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "customers": ["ACME"],
        "roles": ["viewer"],
    }


@pytest.fixture
def verifier() -> TokenVerifier:
    return build_verifier(TokenSettings(hs256_secret=SECRET))


@pytest.fixture
def token() -> str:
    return jwt.encode(token_claims(), SECRET, algorithm="HS256")


async def test_no_header_is_anonymous(verifier: TokenVerifier) -> None:
    assert await authenticate(None, verifier) is None


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_bearer_header_gives_the_caller(
    verifier: TokenVerifier, token: str, scheme: str
) -> None:
    caller = await authenticate(f"{scheme} {token}", verifier)
    assert caller is not None
    assert (caller.subject, caller.customers) == ("alice", frozenset({"ACME"}))


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b", "{token}"],
)
async def test_malformed_header_is_an_error_not_anonymous(
    verifier: TokenVerifier, token: str, header: str
) -> None:
    with pytest.raises(AuthenticationError, match="Bearer <token>"):
        await authenticate(header.format(token=token), verifier)


async def test_bad_token_in_a_good_header_is_an_error(verifier: TokenVerifier) -> None:
    forged = jwt.encode(token_claims(), "a-different-secret-of-sufficient-length", "HS256")
    with pytest.raises(AuthenticationError):
        await authenticate(f"Bearer {forged}", verifier)


async def test_authenticate_on_the_event_loop(verifier: TokenVerifier, token: str) -> None:
    assert await authenticate(None, verifier) is None
    caller = await authenticate(f"Bearer {token}", verifier)
    assert caller is not None and caller.subject == "alice"
    assert not verifier.may_block


# --- JWKS over HTTP ---------------------------------------------------------------------------


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts how often it is asked."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = json.dumps(owner.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="RS256")
    return jwk


def signed(private: rsa.RSAPrivateKey, kid: str, subject: str = "alice") -> str:
    claims = {**token_claims(), "sub": subject}
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks_server(rsa_private: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    server = JwksServer({"keys": [public_jwk(rsa_private, "k1")]})
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


async def test_jwks_verifier_fetches_once_and_caches(
    jwks_server: JwksServer, rsa_private: rsa.RSAPrivateKey
) -> None:
    verifier = build_verifier(TokenSettings(jwks_url=jwks_server.url))
    assert verifier.may_block
    token = jwt.encode(token_claims(), rsa_private, algorithm="RS256", headers={"kid": "k1"})
    for _ in range(3):
        caller = await authenticate(f"Bearer {token}", verifier)
        assert caller is not None and caller.subject == "alice"
    assert jwks_server.requests == 1


def test_a_key_withdrawn_from_the_jwks_is_refused_once_the_key_set_expires(
    jwks_server: JwksServer, rsa_private: rsa.RSAPrivateKey
) -> None:
    """The identity provider rotates k1 (say, leaked) out for k2: after the key set's
    lifespan a new token signed with k1 is refused, and one signed with k2 accepted."""
    verifier = build_verifier(TokenSettings(jwks_url=jwks_server.url, jwks_cache_seconds=1))
    assert verifier.verify(signed(rsa_private, "k1")).subject == "alice"
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.jwks = {"keys": [public_jwk(new_key, "k2")]}
    time.sleep(1.1)  # past AUTH_JWKS_CACHE_SECONDS
    with pytest.raises(AuthenticationError, match="signing key is not known"):
        verifier.verify(signed(rsa_private, "k1", subject="mallory"))
    assert verifier.verify(signed(new_key, "k2", subject="bob")).subject == "bob"
    assert jwks_server.requests == 2


def test_a_key_published_after_a_fetch_is_accepted_after_the_refetch_cooldown(
    jwks_server: JwksServer, rsa_private: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new ``kid`` is looked for again after ``JWKS_REFETCH_COOLDOWN_SECONDS``, not only
    when the key set expires; within it, an unknown ``kid`` causes no fetch."""
    monkeypatch.setattr("web.auth.JWKS_REFETCH_COOLDOWN_SECONDS", 1.0)
    # Made before the first fetch: generating a key took over the cooldown on a loaded
    # machine, and the "within it, no fetch" half then saw a second fetch.
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = signed(new_key, "k2", subject="bob")
    verifier = build_verifier(TokenSettings(jwks_url=jwks_server.url))  # key set: 300 s
    assert verifier.verify(signed(rsa_private, "k1")).subject == "alice"
    jwks_server.jwks = {"keys": [public_jwk(rsa_private, "k1"), public_jwk(new_key, "k2")]}
    with pytest.raises(AuthenticationError, match="signing key is not known"):
        verifier.verify(token)
    assert jwks_server.requests == 1
    time.sleep(1.1)
    assert verifier.verify(token).subject == "bob"
    assert jwks_server.requests == 2


async def test_unreachable_jwks_endpoint(rsa_private: rsa.RSAPrivateKey) -> None:
    probe = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens on this port any more
    verifier = build_verifier(TokenSettings(jwks_url=f"http://127.0.0.1:{port}/jwks.json"))
    token = jwt.encode(token_claims(), rsa_private, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(SigningKeysUnavailableError):
        await authenticate(f"Bearer {token}", verifier)


def test_a_remembered_token_is_not_honoured_past_its_expiry() -> None:
    verifier = build_verifier(TokenSettings(hs256_secret=SECRET, leeway_seconds=0))
    # Two seconds ahead, so at least one whole second is left after ``exp`` is rounded down.
    claims = {**token_claims(), "exp": int(datetime.now(UTC).timestamp()) + 2}
    short_lived = jwt.encode(claims, SECRET, algorithm="HS256")
    first = verifier.verify(short_lived)
    assert verifier.verify(short_lived) is first  # remembered: not checked again
    time.sleep(max(0.0, first.valid_until.timestamp() - time.time()) + 0.05)
    with pytest.raises(AuthenticationError, match="expired"):
        verifier.verify(short_lived)


def test_remembering_a_token_does_not_vouch_for_a_tampered_copy(
    verifier: TokenVerifier, token: str
) -> None:
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged = ".".join(
        (header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"))
    )
    with pytest.raises(AuthenticationError):
        verifier.verify(forged)
