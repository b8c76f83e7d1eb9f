"""Every process refuses to start on a bad environment and names every bad variable at once:
an operator fixes them all in one go instead of one start-up per variable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest

from config.env import SettingsError
from config.process import ProcessSettings
from projections.settings import load_projector_settings
from web.settings import load_settings

#: (case, variable, a value start-up must refuse)
REFUSED: Final = [
    ("api", "API_PORT", "eighty"),
    ("api", "MAX_QUERY_DEPTH", "0"),
    ("api", "GRAPHQL_PATH", "graphql"),
    ("api", "MONGODB_URI", "postgres://x"),
    ("api", "CORS_ORIGINS", "portal.example.com"),
    ("api", "STALE_AFTER_SECONDS", "nan"),
    ("api", "ENTITLEMENTS_FILE", "/no/such/policy.toml"),
    ("api", "KAFKA_BOOTSTRAP_SERVERS", "broker"),
    ("subscriptions", "SUBSCRIPTION_BUFFER", "0"),
    ("subscriptions", "WS_PING_INTERVAL_SECONDS", "soon"),
    ("subscriptions", "WS_PONG_TIMEOUT_SECONDS", "nan"),
    ("subscriptions", "CHANGES_RETENTION_HOURS", "1.5"),
    ("projector", "PROJECTOR_BATCH_MAX", "0"),
    ("projector", "PROJECTOR_STORE_CONCURRENCY", "lots"),
    ("projector", "STATUS_MAP_FILE", "/no/such/map.toml"),
    ("projector", "MONGODB_URI", "postgres://db"),
    ("projector", "PROJECTOR_METRICS_PORT", "70000"),
    ("projector", "KAFKA_REPLICATION_FACTOR", "0"),
    ("projector", "LOG_LEVEL", "loud"),
]


def _api_with_a_token_key(environ: dict[str, str]) -> ProcessSettings:
    return load_settings({"AUTH_HS256_SECRET": "s" * 40, **environ})


@pytest.mark.parametrize(
    ("case", "load", "heading", "other_problem"),
    [
        # no token key configured either: a problem of no single variable, reported too
        (
            "api",
            load_settings,
            "invalid API configuration:",
            "no token key configured: set AUTH_HS256_SECRET",
        ),
        ("subscriptions", _api_with_a_token_key, "invalid API configuration:", None),
        ("projector", load_projector_settings, "invalid projector configuration:", None),
    ],
    ids=["api", "subscriptions", "projector"],
)
def test_every_bad_variable_is_named_at_once(
    case: str,
    load: Callable[[dict[str, str]], object],
    heading: str,
    other_problem: str | None,
) -> None:
    bad = {variable: value for of, variable, value in REFUSED if of == case}
    with pytest.raises(SettingsError) as raised:
        load(bad)
    error = raised.value
    # a problem with a variable reads ``NAME='value': why``
    named = sorted(problem.split("=")[0] for problem in error.problems if "=" in problem)
    assert named == sorted(bad)
    assert all(variable in str(error) for variable in bad)
    assert str(error).startswith(heading)
    unnamed = [problem for problem in error.problems if "=" not in problem]
    assert len(unnamed) == (0 if other_problem is None else 1)
    assert all(problem.startswith(other_problem or "") for problem in unnamed)


@pytest.mark.parametrize(
    "load", [_api_with_a_token_key, load_projector_settings], ids=["api", "projector"]
)
def test_a_short_metrics_token_is_refused_without_being_echoed(
    load: Callable[[dict[str, str]], ProcessSettings],
) -> None:
    with pytest.raises(SettingsError) as raised:
        load({"METRICS_TOKEN": "hunter2"})
    assert "METRICS_TOKEN" in str(raised.value) and "hunter2" not in str(raised.value)
    token = "t" * 16
    assert load({"METRICS_TOKEN": token}).metrics_token == token
    assert load({}).metrics_token is None


@pytest.mark.parametrize(
    "uri", ["postgres://portal:pa55word@db:5432/", "mongodb:/portal:pa55word@db:27017/"]
)
@pytest.mark.parametrize(
    "load", [_api_with_a_token_key, load_projector_settings], ids=["api", "projector"]
)
def test_a_refused_mongodb_uri_is_echoed_without_its_password(
    load: Callable[[dict[str, str]], ProcessSettings], uri: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load({"MONGODB_URI": uri})
    assert "pa55word" not in str(raised.value) and "portal:" not in str(raised.value)
    assert "***@db:" in str(raised.value) and str(raised.value).count("MONGODB_URI=") == 1
