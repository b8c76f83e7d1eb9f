"""Token verification: only well-formed tokens signed by a configured key yield a caller."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from config.env import SettingsError
from entitlements.caller import Caller
from entitlements.errors import (
    AuthenticationError,
    ConfigurationError,
    SigningKeysUnavailableError,
)
from entitlements.mint import main as mint_main
from entitlements.mint import mint_token
from entitlements.token_env import load_token_settings
from entitlements.tokens import TokenSettings, TokenVerifier

SECRET = "test-secret-that-is-long-enough-for-hs256"
ISSUER = "portal-read-model-local"
AUDIENCE = "portal-api"
KID = "key-1"


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(rsa_private: rsa.RSAPrivateKey) -> str:
    return (
        rsa_private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now(),
        "exp": now() + 600,
        "customers": ["ACME", "GLOBEX"],
        "roles": ["viewer"],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def rs256(payload: dict[str, Any], key: rsa.RSAPrivateKey, kid: str | None = KID) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def handmade(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built without PyJWT, which refuses to produce the forgeries tested here."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b""
    if secret is not None:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def hs_verifier() -> TokenVerifier:
    return TokenVerifier(TokenSettings(hs256_secret=SECRET))


@pytest.fixture
def rs_verifier(public_pem: str) -> TokenVerifier:
    return TokenVerifier(TokenSettings(rs256_public_key_pem=public_pem))


class FakeJwks:
    """Stands in for ``jwt.PyJWKClient``: serves fixed JWKs by ``kid``, or fails as told."""

    def __init__(self, keys: dict[str, dict[str, Any]], error: Exception | None = None) -> None:
        self.keys = keys
        self.error = error
        self.calls = 0

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        self.calls += 1
        if self.error is not None:
            raise self.error
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in self.keys:
            raise jwt.PyJWKClientError(f"Unable to find a signing key that matches: {kid!r}")
        return jwt.PyJWK(self.keys[kid])


def rsa_jwk(key: rsa.RSAPrivateKey, **extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(extra)
    return jwk


def jwks_verifier(fake: FakeJwks) -> TokenVerifier:
    return TokenVerifier(TokenSettings(jwks_url="https://idp.example/jwks"), fake)


# --- accepted tokens --------------------------------------------------------------------------


def test_valid_hs256_token_gives_its_caller(hs_verifier: TokenVerifier) -> None:
    exp = now() + 600
    caller = hs_verifier.verify(hs256(claims(exp=exp, roles=["viewer", "finance"])))
    assert caller == Caller(
        subject="alice",
        customers=frozenset({"ACME", "GLOBEX"}),
        roles=frozenset({"viewer", "finance"}),
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
        leeway=timedelta(seconds=30),
    )
    assert caller.expires_at.tzinfo is not None
    assert caller.valid_until == caller.expires_at + timedelta(seconds=30)


def test_token_without_iat_is_accepted(hs_verifier: TokenVerifier) -> None:
    assert hs_verifier.verify(hs256(claims(iat=...))).subject == "alice"


def test_audience_list_containing_ours_is_accepted(hs_verifier: TokenVerifier) -> None:
    assert hs_verifier.verify(hs256(claims(aud=["other-api", AUDIENCE]))).subject == "alice"


def test_expired_within_leeway_is_accepted(hs_verifier: TokenVerifier) -> None:
    assert hs_verifier.verify(hs256(claims(exp=now() - 10))).subject == "alice"


def test_empty_customers_and_roles_are_a_caller_who_sees_nothing(
    hs_verifier: TokenVerifier,
) -> None:
    caller = hs_verifier.verify(hs256(claims(customers=[], roles=[])))
    assert caller.customers == frozenset() and caller.roles == frozenset()


def test_valid_rs256_token_with_public_key(
    rs_verifier: TokenVerifier, rsa_private: rsa.RSAPrivateKey
) -> None:
    assert rs_verifier.verify(rs256(claims(), rsa_private)).customers == {"ACME", "GLOBEX"}


def test_valid_rs256_token_with_jwks(rsa_private: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks({KID: rsa_jwk(rsa_private, kid=KID, alg="RS256", use="sig")})
    assert jwks_verifier(fake).verify(rs256(claims(), rsa_private)).subject == "alice"
    assert fake.calls == 1


def test_jwks_key_without_alg_is_taken_as_rs256(rsa_private: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks({KID: rsa_jwk(rsa_private, kid=KID)})
    assert jwks_verifier(fake).verify(rs256(claims(), rsa_private)).subject == "alice"


def test_both_key_kinds_configured_accepts_each(
    public_pem: str, rsa_private: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(TokenSettings(hs256_secret=SECRET, rs256_public_key_pem=public_pem))
    assert verifier.verify(hs256(claims())).subject == "alice"
    assert verifier.verify(rs256(claims(), rsa_private)).subject == "alice"


# --- refused tokens ---------------------------------------------------------------------------


def refused(verifier: TokenVerifier, token: str, message_part: str = "") -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        verifier.verify(token)
    assert message_part in str(caught.value)
    assert token not in str(caught.value)
    assert caught.value.code == "UNAUTHENTICATED"
    return caught.value


def test_expired_token(hs_verifier: TokenVerifier) -> None:
    refused(hs_verifier, hs256(claims(exp=now() - 120)), "expired")


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
def test_missing_required_claim(hs_verifier: TokenVerifier, claim: str) -> None:
    refused(hs_verifier, hs256(claims(**{claim: ...})), claim)


def test_wrong_issuer(hs_verifier: TokenVerifier) -> None:
    refused(hs_verifier, hs256(claims(iss="someone-else")), "not issued for this API")


def test_wrong_audience(hs_verifier: TokenVerifier) -> None:
    refused(hs_verifier, hs256(claims(aud="another-api")), "not issued for this API")


def test_not_yet_valid(hs_verifier: TokenVerifier) -> None:
    refused(hs_verifier, hs256(claims(nbf=now() + 3600)), "not valid yet")
    refused(hs_verifier, hs256(claims(iat=now() + 3600)), "not valid yet")


def test_wrong_secret(hs_verifier: TokenVerifier) -> None:
    refused(hs_verifier, hs256(claims(), secret="another-secret-that-is-also-long-enough"))


def test_alg_none_is_refused(hs_verifier: TokenVerifier, rs_verifier: TokenVerifier) -> None:
    token = handmade({"alg": "none", "typ": "JWT"}, claims(), secret=None)
    refused(hs_verifier, token, "algorithm is not accepted")
    refused(rs_verifier, token, "algorithm is not accepted")
    refused(hs_verifier, handmade({"typ": "JWT"}, claims(), secret=None))


def test_hs256_signed_with_rsa_public_key_is_refused(
    public_pem: str, rs_verifier: TokenVerifier
) -> None:
    forged = handmade({"alg": "HS256", "typ": "JWT"}, claims(), secret=public_pem.encode())
    refused(rs_verifier, forged, "algorithm is not accepted")
    both = TokenVerifier(TokenSettings(hs256_secret=SECRET, rs256_public_key_pem=public_pem))
    refused(both, forged)


def test_hs256_token_refused_when_only_jwks_is_configured(
    rsa_private: rsa.RSAPrivateKey,
) -> None:
    fake = FakeJwks({KID: rsa_jwk(rsa_private, kid=KID)})
    refused(jwks_verifier(fake), hs256(claims()), "algorithm is not accepted")
    assert fake.calls == 0


def test_rs256_token_refused_when_only_secret_is_configured(
    hs_verifier: TokenVerifier, rsa_private: rsa.RSAPrivateKey
) -> None:
    refused(hs_verifier, rs256(claims(), rsa_private), "algorithm is not accepted")


def test_other_asymmetric_algorithms_are_refused(rs_verifier: TokenVerifier) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    refused(rs_verifier, jwt.encode(claims(), ec_key, algorithm="ES256"), "not accepted")


def test_rs256_signed_by_another_key(
    rs_verifier: TokenVerifier, other_rsa_private: rsa.RSAPrivateKey
) -> None:
    refused(rs_verifier, rs256(claims(), other_rsa_private))


@pytest.mark.parametrize("part", [1, 2])
def test_tampered_token(hs_verifier: TokenVerifier, part: int) -> None:
    pieces = hs256(claims()).split(".")
    if part == 1:
        pieces[1] = b64(json.dumps(claims(customers=["ACME", "INITECH"])).encode())
    else:
        pieces[2] = pieces[2][:-2] + ("AA" if not pieces[2].endswith("AA") else "BB")
    refused(hs_verifier, ".".join(pieces))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Bearer x"])
def test_malformed_token(hs_verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(AuthenticationError):
        hs_verifier.verify(token)


def test_jwks_key_of_another_algorithm_is_refused(rsa_private: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks({KID: rsa_jwk(rsa_private, kid=KID, alg="RS512")})
    token = jwt.encode(claims(), rsa_private, algorithm="RS512", headers={"kid": KID})
    refused(jwks_verifier(fake), token, "not accepted")
    refused(jwks_verifier(fake), rs256(claims(), rsa_private), "not accepted")


def test_jwks_symmetric_key_is_refused() -> None:
    """A JWKS that (wrongly or maliciously) serves an ``oct`` key must not enable HS256."""
    oct_jwk = {"kty": "oct", "kid": KID, "alg": "HS256", "k": b64(SECRET.encode())}
    fake = FakeJwks({KID: oct_jwk})
    refused(jwks_verifier(fake), hs256(claims()), "algorithm is not accepted")
    # Even an RS256 header cannot bring a symmetric key into play.
    forged = handmade({"alg": "RS256", "kid": KID}, claims(), secret=SECRET.encode())
    refused(jwks_verifier(fake), forged, "not accepted")


def test_jwks_unknown_kid(rsa_private: rsa.RSAPrivateKey) -> None:
    fake = FakeJwks({"other": rsa_jwk(rsa_private, kid="other")})
    refused(jwks_verifier(fake), rs256(claims(), rsa_private), "signing key is not known")


def test_jwks_unreachable_is_a_distinct_authentication_error(
    rsa_private: rsa.RSAPrivateKey,
) -> None:
    fake = FakeJwks({}, error=jwt.PyJWKClientConnectionError("connection refused"))
    error = refused(jwks_verifier(fake), rs256(claims(), rsa_private), "unavailable")
    assert isinstance(error, SigningKeysUnavailableError)


@pytest.mark.parametrize("claim", ["customers", "roles"])
@pytest.mark.parametrize("value", ["ACME", {"ACME": True}, [1], ["ACME", None], [""], ...])
def test_customers_and_roles_must_be_lists_of_strings(
    hs_verifier: TokenVerifier, claim: str, value: Any
) -> None:
    refused(hs_verifier, hs256(claims(**{claim: value})), claim)


@pytest.mark.parametrize("subject", ["", "   ", 42])
def test_subject_must_be_a_non_empty_string(hs_verifier: TokenVerifier, subject: Any) -> None:
    refused(hs_verifier, hs256(claims(sub=subject)))


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(),
        st.dictionaries(st.text(), st.text()),
        st.lists(st.one_of(st.integers(), st.none(), st.booleans(), st.just("")), min_size=1),
    )
)
def test_any_non_list_of_strings_customers_claim_is_refused(value: Any) -> None:
    verifier = TokenVerifier(TokenSettings(hs256_secret=SECRET))
    with pytest.raises(AuthenticationError):
        verifier.verify(hs256(claims(customers=value)))


# --- settings ---------------------------------------------------------------------------------


def test_settings_from_env_defaults() -> None:
    settings = load_token_settings({"AUTH_HS256_SECRET": SECRET})
    assert (settings.issuer, settings.audience, settings.leeway_seconds) == (
        ISSUER,
        AUDIENCE,
        30,
    )
    assert SECRET not in repr(settings)


def test_settings_from_env_overrides(tmp_path: Path, public_pem: str) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(public_pem)
    settings = load_token_settings(
        {
            "AUTH_RS256_PUBLIC_KEY_FILE": str(key_file),
            "AUTH_ISSUER": "https://idp.example",
            "AUTH_AUDIENCE": "portal",
            "AUTH_LEEWAY_SECONDS": "5",
        }
    )
    assert settings.rs256_public_key_pem == public_pem
    assert (settings.issuer, settings.audience, settings.leeway_seconds) == (
        "https://idp.example",
        "portal",
        5,
    )


def test_the_key_file_is_read_once_so_the_key_checked_is_the_key_used(
    tmp_path: Path, public_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key file replaced while the API starts must not give a key that was never checked."""
    key_file = tmp_path / "key.pem"
    key_file.write_text(public_pem)
    reads: list[Path] = []
    read_text = Path.read_text

    def counting_read(path: Path, *args: Any, **kwargs: Any) -> str:
        reads.append(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting_read)
    settings = load_token_settings({"AUTH_RS256_PUBLIC_KEY_FILE": str(key_file)})
    assert settings.rs256_public_key_pem == public_pem
    assert reads == [key_file]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no token key configured"),
        ({"AUTH_HS256_SECRET": ""}, "no token key configured"),
        ({"AUTH_HS256_SECRET": "short"}, "AUTH_HS256_SECRET"),
        ({"AUTH_HS256_SECRET": SECRET, "AUTH_LEEWAY_SECONDS": "soon"}, "AUTH_LEEWAY_SECONDS"),
        ({"AUTH_HS256_SECRET": SECRET, "AUTH_LEEWAY_SECONDS": "-1"}, "AUTH_LEEWAY_SECONDS"),
        ({"AUTH_JWKS_URL": "file:///etc/passwd"}, "AUTH_JWKS_URL"),
        ({"AUTH_JWKS_URL": "http://idp.example/jwks"}, "must be an https URL"),
        ({"AUTH_JWKS_URL": "http://10.0.0.7/jwks"}, "must be an https URL"),
        ({"AUTH_JWKS_URL": "https:///jwks"}, "must be an https URL"),
        ({"AUTH_RS256_PUBLIC_KEY_FILE": "/nonexistent/key.pem"}, "cannot read"),
    ],
)
def test_settings_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_token_settings(environ)


def test_a_bad_secret_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as raised:
        load_token_settings({"AUTH_HS256_SECRET": "short-secret-value"})
    assert "AUTH_HS256_SECRET" in str(raised.value)
    assert "short-secret-value" not in str(raised.value)


def test_public_key_must_be_rsa_and_not_both_sources(tmp_path: Path, public_pem: str) -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ConfigurationError, match="not an RSA public key"):
        TokenSettings(rs256_public_key_pem=ec_pem)
    with pytest.raises(ConfigurationError, match="not a PEM public key"):
        TokenSettings(rs256_public_key_pem="hello")
    with pytest.raises(ConfigurationError, match="only one"):
        TokenSettings(rs256_public_key_pem=public_pem, jwks_url="https://idp.example/jwks")
    with pytest.raises(ConfigurationError, match="looks like a key"):
        TokenSettings(hs256_secret=public_pem)


def test_jwks_url_without_client_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="JWKS client"):
        TokenVerifier(TokenSettings(jwks_url="https://idp.example/jwks"))


# --- minting ----------------------------------------------------------------------------------


def test_minted_token_round_trips(hs_verifier: TokenVerifier) -> None:
    settings = TokenSettings(hs256_secret=SECRET)
    token = mint_token(
        settings, subject="bob", customers=["GLOBEX"], roles=["finance"], ttl_seconds=120
    )
    caller = hs_verifier.verify(token)
    assert (caller.subject, caller.customers, caller.roles) == (
        "bob",
        frozenset({"GLOBEX"}),
        frozenset({"finance"}),
    )
    remaining = (caller.expires_at - datetime.now(UTC)).total_seconds()
    assert 100 < remaining <= 120


def test_minted_token_follows_issuer_and_audience() -> None:
    settings = TokenSettings(hs256_secret=SECRET, issuer="iss-x", audience="aud-y")
    token = mint_token(settings, subject="bob", customers=[], roles=[], ttl_seconds=60)
    assert TokenVerifier(settings).verify(token).subject == "bob"
    with pytest.raises(AuthenticationError):
        TokenVerifier(TokenSettings(hs256_secret=SECRET)).verify(token)


def test_mint_cli_prints_a_verifiable_token(
    capsys: pytest.CaptureFixture[str], hs_verifier: TokenVerifier
) -> None:
    argv = ["--customers", "ACME,GLOBEX", "--roles", "viewer,finance", "--sub", "alice"]
    assert mint_main([*argv, "--ttl", "3600"], {"AUTH_HS256_SECRET": SECRET}) == 0
    caller = hs_verifier.verify(capsys.readouterr().out.strip())
    assert caller.customers == {"ACME", "GLOBEX"}
    assert caller.roles == {"viewer", "finance"}


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--sub", "alice"], {}, "AUTH_HS256_SECRET is not set"),
        (["--sub", "alice", "--ttl", "0"], {"AUTH_HS256_SECRET": SECRET}, "ttl"),
    ],
)
def test_mint_cli_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], environ: dict[str, str], message: str
) -> None:
    assert mint_main(argv, environ) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
