"""The projector's settings: the documented defaults and their overrides (every bad variable
named at once: ``test_settings_refusals.py``)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from config.topics import TopicSettings
from projections.runner import kafka_clients
from projections.settings import ProjectorSettings, load_projector_settings
from readmodel.topics import TopicNames


def test_defaults() -> None:
    settings = load_projector_settings({})
    assert settings == ProjectorSettings()
    assert (settings.group_id, settings.batch_max_records, settings.batch_wait_ms) == (
        "portal-projector",
        40_000,
        100,
    )
    assert (settings.store_concurrency, settings.changes_retention_hours) == (16, 72)
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9464)
    assert settings.session_timeout_ms == 10_000
    assert settings.topics == TopicNames()


def test_values_from_environment(empty_toml: Path) -> None:
    environ = {
        "PROJECTOR_GROUP": "g2",
        "PROJECTOR_BATCH_MAX": "50",
        "PROJECTOR_BATCH_WAIT_MS": "0",
        "PROJECTOR_STORE_CONCURRENCY": "4",
        "STATUS_MAP_FILE": str(empty_toml),
        "CHANGES_RETENTION_HOURS": "1",
        "PROJECTOR_METRICS_PORT": "0",
        "PROJECTOR_SESSION_TIMEOUT_MS": "6000",
        "TOPIC_DEAD_LETTER": "dev.dead",
        "MONGODB_DATABASE": "p2",
        "KAFKA_REPLICATION_FACTOR": "3",
        "LOG_LEVEL": "debug",
    }
    settings = load_projector_settings(environ)
    assert (settings.group_id, settings.batch_max_records, settings.batch_wait_ms) == ("g2", 50, 0)
    assert (settings.store_concurrency, settings.status_map_file) == (4, empty_toml)
    assert (settings.changes_retention_hours, settings.metrics_port) == (1, 0)
    assert settings.session_timeout_ms == 6_000
    assert settings.topics.dead_letter == "dev.dead"
    assert (settings.mongodb_database, settings.kafka_replication_factor) == ("p2", 3)
    assert settings.log_level == "DEBUG"


def test_every_topic_has_its_variable() -> None:
    assert set(TopicSettings.model_fields) == {f.name for f in fields(TopicNames)}
    environ = {f"TOPIC_{f.name.upper()}": f"x.{f.name}" for f in fields(TopicNames)}
    topics = load_projector_settings(environ).topics
    assert all(getattr(topics, f.name) == f"x.{f.name}" for f in fields(TopicNames))


async def test_the_group_member_keeps_the_session_timeout_set() -> None:
    """The broker hands a member's partitions to the others, and lets a new member in, once
    it has not heard from a killed member for this long."""
    settings = load_projector_settings({"PROJECTOR_SESSION_TIMEOUT_MS": "6000"})
    producers, consumer = kafka_clients(settings)
    try:
        assert (consumer._session_timeout_ms, consumer._heartbeat_interval_ms) == (6_000, 1_800)
    finally:
        await producers.stop()
        await consumer.stop()
