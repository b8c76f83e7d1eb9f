"""Settings come from the environment once, with every problem named at start-up (the table
of refused variables: ``test_settings_refusals.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, ExecutionTimeout

from config.env import SettingsError
from resolvers.readers import DEFAULT_STORE_MAX_TIME_MS, store_failed
from web.settings import QueryLimits, load_settings

SECRET = "s" * 40
BASE = {"AUTH_HS256_SECRET": SECRET}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/"
    assert settings.mongodb_database == "portal"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert settings.graphql_path == "/graphql"
    assert settings.cors_origins == ()
    assert settings.limits == QueryLimits(
        max_depth=12, max_aliases=30, max_query_bytes=20_000, max_cost=5_000
    )
    assert settings.stale_after_seconds == 300
    assert settings.projector_group == "portal-projector"
    assert settings.topics.orders == "erp.orders.v1"
    assert settings.entitlements_file is None
    assert settings.read_pointer_cache_seconds == 1.0


def test_values_from_environment(empty_toml: Path) -> None:
    settings = load_settings(
        {
            **BASE,
            "MONGODB_URI": "mongodb://db:27018/",
            "MONGODB_DATABASE": "test_x",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "API_PORT": "9000",
            "GRAPHQL_PATH": "/api/graphql",
            "CORS_ORIGINS": "https://portal.example.com, http://localhost:3000/",
            "MAX_QUERY_DEPTH": "4",
            "MAX_QUERY_COST": "100",
            "STALE_AFTER_SECONDS": "2.5",
            "TOPIC_ORDERS": "dev.erp.orders.v1",
            "PROJECTOR_GROUP": "g2",
            "ENTITLEMENTS_FILE": str(empty_toml),
            "READ_POINTER_CACHE_SECONDS": "0",
        }
    )
    assert settings.mongodb_database == "test_x"
    assert settings.api_port == 9000
    assert settings.graphql_path == "/api/graphql"
    assert settings.cors_origins == ("https://portal.example.com", "http://localhost:3000")
    assert settings.limits.max_depth == 4 and settings.limits.max_cost == 100
    assert settings.stale_after_seconds == 2.5
    assert settings.topics.orders == "dev.erp.orders.v1"
    assert settings.projector_group == "g2"
    assert settings.entitlements_file == empty_toml
    assert settings.read_pointer_cache_seconds == 0


def test_body_limit_must_hold_a_query() -> None:
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES"):
        load_settings({**BASE, "MAX_QUERY_BYTES": "5000", "MAX_BODY_BYTES": "100"})


def test_variable_values_must_hold_the_representations_allowed() -> None:
    """Raising MAX_ENTITY_REPRESENTATIONS alone would only move the refusal of a large
    ``_entities`` request to MAX_VARIABLE_VALUES: start-up says what to raise instead."""
    with pytest.raises(SettingsError, match=r"MAX_VARIABLE_VALUES \(2000\) must be at least 3001"):
        load_settings({**BASE, "MAX_ENTITY_REPRESENTATIONS": "1000"})
    raised = {**BASE, "MAX_ENTITY_REPRESENTATIONS": "1000", "MAX_VARIABLE_VALUES": "3001"}
    assert load_settings(raised).limits.max_variable_values == 3001


def test_graphql_path_may_not_shadow_operational_routes() -> None:
    with pytest.raises(SettingsError, match="built-in route"):
        load_settings({**BASE, "GRAPHQL_PATH": "/metrics"})


def test_two_bad_variables_give_one_error_naming_both() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**BASE, "API_PORT": "99999", "MAX_ALIASES": "many"})
    assert raised.value.problems == [
        "MAX_ALIASES='many': Input should be a valid integer, unable to parse string as an integer",
        "API_PORT='99999': Input should be less than or equal to 65535",
    ]


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_HS256_SECRET", SECRET)
    monkeypatch.setenv("max_query_depth", "7")  # names match whatever their case
    monkeypatch.setenv("DOCUMENT_CACHE_SIZE", "  ")  # blank counts as unset
    settings = load_settings()
    assert settings.limits.max_depth == 7
    assert settings.document_cache_size == 256


def test_persisted_manifests_are_a_comma_list(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text("{}")
    second.write_text("{}")
    settings = load_settings({**BASE, "PERSISTED_OPERATIONS_FILE": f"{first}, {second}"})
    assert settings.persisted_operations_files == (first, second)
    with pytest.raises(SettingsError, match="PERSISTED_OPERATIONS_FILE"):
        load_settings({**BASE, "PERSISTED_OPERATIONS_FILE": f"{first},{tmp_path / 'c.json'}"})


def test_graphiql_example_values_come_with_the_settings() -> None:
    settings = load_settings({**BASE, "GRAPHIQL_EXAMPLE_TRACKING_NUMBER": " 1Z999 "})
    assert settings.graphiql_examples.tracking_number == "1Z999"
    assert settings.graphiql_examples.customer_id == "ACME"


def test_the_stores_time_limit_defaults_to_the_readers_and_names_itself_when_hit() -> None:
    """``STORE_MAX_TIME_MS``: the readers' default unless set; a read the store stopped there
    is SERVICE_UNAVAILABLE naming the limit, any other failure the store's unavailability."""
    assert load_settings(BASE).store_max_time_ms == DEFAULT_STORE_MAX_TIME_MS
    assert load_settings({**BASE, "STORE_MAX_TIME_MS": "900"}).store_max_time_ms == 900
    stopped = store_failed(ExecutionTimeout("operation exceeded time limit", 50), 900)
    assert stopped.extensions == {"code": "SERVICE_UNAVAILABLE"}
    assert stopped.message == (
        "the data store stopped a read that took longer than its limit of 900 ms "
        "(STORE_MAX_TIME_MS); retry later, or narrow the filter"
    )
    down = store_failed(AutoReconnect("connection refused"), 900)
    assert down.message == "the data store is unavailable; retry shortly"
