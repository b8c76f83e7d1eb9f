"""``TOPIC_<NAME>`` overrides of the Kafka topic names, read by every process that uses them."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from config.env import EnvReader, EnvSettings
from projections.topics import TopicNames

_DEFAULTS = TopicNames()


class TopicSettings(EnvSettings):
    """One field per topic; deployments rename topics (e.g. with an environment prefix)."""

    orders: str = Field(_DEFAULTS.orders, validation_alias="TOPIC_ORDERS", min_length=1)
    fulfillment: str = Field(
        _DEFAULTS.fulfillment, validation_alias="TOPIC_FULFILLMENT", min_length=1
    )
    shipments: str = Field(_DEFAULTS.shipments, validation_alias="TOPIC_SHIPMENTS", min_length=1)
    invoices: str = Field(_DEFAULTS.invoices, validation_alias="TOPIC_INVOICES", min_length=1)
    source_status: str = Field(
        _DEFAULTS.source_status, validation_alias="TOPIC_SOURCE_STATUS", min_length=1
    )
    dead_letter: str = Field(
        _DEFAULTS.dead_letter, validation_alias="TOPIC_DEAD_LETTER", min_length=1
    )
    changes: str = Field(_DEFAULTS.changes, validation_alias="TOPIC_CHANGES", min_length=1)


def read_topic_names(reader: EnvReader) -> TopicNames:
    """The topic names the environment gives (the defaults after a problem, which is kept)."""
    read = reader.read(TopicSettings)
    return TopicNames(**read.model_dump()) if read is not None else _DEFAULTS


def load_topic_names(environ: Mapping[str, str] | None = None) -> TopicNames:
    """For tools that need only the topic names (the simulator); ``SettingsError`` if bad."""
    reader = EnvReader("topic", environ)
    topics = read_topic_names(reader)
    reader.raise_problems()
    return topics
