"""Fixtures for tests that run against the real Kafka broker and FerretDB.

The services are started by ``scripts/stack start`` (``scripts/test`` does it), not here: a
fixture that started a JVM would make every test session pay for it and leave processes
behind on a crash. These fixtures only check that the services answer and give each test its
own database and its own topics, so tests never see each other's data and need no cleanup
order. ``module_db`` and ``module_topic_names`` are one module's, for the API process its
tests share (``shared_apis`` in ``tests/integration/conftest.py``).

Any test that asks for one of the fixtures below (or lives under ``tests/integration``) is
marked ``integration``; ``pytest tests/unit`` and ``pytest -m "not integration"`` run
without services.

Environment: ``KAFKA_BOOTSTRAP_SERVERS`` (default ``127.0.0.1:9092``) and ``MONGODB_URI``
(default ``mongodb://127.0.0.1:27017/``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from hypothesis import settings
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

from readmodel.kafka_admin import DEAD_LETTER_CONFIGS
from readmodel.topics import TopicNames
from tests.helpers import Stack, own_database, wait_for_leaders

# Property tests check results, never time: Hypothesis' per-example deadline (200 ms) is a
# timed assertion that a shared, loaded machine fails at random.
settings.register_profile("portal", deadline=None)
settings.load_profile("portal")

DEFAULT_KAFKA_BOOTSTRAP: Final = "127.0.0.1:9092"
DEFAULT_MONGODB_URI: Final = "mongodb://127.0.0.1:27017/"

#: Fixtures that need the running services; a test using any of them is an integration test.
INTEGRATION_FIXTURES: Final = frozenset(
    {
        "stack",
        "kafka_bootstrap",
        "kafka_admin",
        "mongo_client",
        "mongo_db",
        "topic_names",
        "module_db",
        "module_topic_names",
    }
)

#: Partition counts of the per-test topics. The changes topic has one partition because its
#: offset is the subscriptions' total order; the dead-letter topic needs no parallelism.
SINGLE_PARTITION_TOPICS: Final = frozenset({"dead_letter", "changes"})
PARTITIONS: Final = 4

_INTEGRATION_DIR: Final = Path(__file__).parent / "integration"

# Kafka error code for "topic does not exist": deleting an already-deleted topic is fine.
_UNKNOWN_TOPIC_OR_PARTITION: Final = 3


#: The fixture of a test that starts a stack of its own (``tests/integration/private_stack.py``):
#: such a test is marked ``private_stack``, and ``scripts/lib/suite.sh`` runs the marked tests
#: in a pytest process beside the rest, since they share nothing with them.
PRIVATE_STACK_FIXTURE: Final = "private_stack"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        in_integration_dir = _INTEGRATION_DIR in Path(str(item.path)).parents
        if in_integration_dir or INTEGRATION_FIXTURES & fixtures:
            item.add_marker(pytest.mark.integration)
        if PRIVATE_STACK_FIXTURE in fixtures:
            item.add_marker(pytest.mark.private_stack)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def _kafka_problem(bootstrap: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    problem = None
    try:
        await admin.start()
        if not (await admin.describe_cluster())["brokers"]:
            problem = "it reports no brokers"
    except (KafkaError, OSError) as exc:
        problem = repr(exc)
    finally:
        await admin.close()
    if problem:
        return (
            f"Kafka is not reachable at {bootstrap} ({problem}). Start the local stack with "
            "`scripts/stack start`, or set KAFKA_BOOTSTRAP_SERVERS."
        )
    return None


async def _connect_problem(host: str, port: int) -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    except (OSError, TimeoutError) as exc:
        return repr(exc)
    writer.close()
    await writer.wait_closed()
    return None


async def _mongo_problem(uri: str) -> str | None:
    # PyMongo 4.20's async client leaks the socket of a refused connection (an unraisable
    # ResourceWarning, an error under our warning filter), so a closed port is found first.
    problem = None
    if uri.startswith("mongodb://"):
        host, port = parse_uri(uri)["nodelist"][0]
        problem = await _connect_problem(host, port)
    if problem is None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=5000
        )
        try:
            await client.admin.command("ping")
        except PyMongoError as exc:
            problem = repr(exc)
        finally:
            await client.close()
    if problem:
        return (
            f"MongoDB/FerretDB is not reachable at {uri} ({problem}). Start the local stack "
            "with `scripts/stack start`, or set MONGODB_URI."
        )
    return None


@pytest_asyncio.fixture(scope="session")
async def stack() -> Stack:
    """Fails the requesting tests with a clear message when a service is down."""
    found = Stack(
        kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_KAFKA_BOOTSTRAP,
        mongodb_uri=os.environ.get("MONGODB_URI") or DEFAULT_MONGODB_URI,
    )
    problems = await asyncio.gather(
        _kafka_problem(found.kafka_bootstrap), _mongo_problem(found.mongodb_uri)
    )
    if any(problems):
        pytest.fail("\n".join(p for p in problems if p), pytrace=False)
    return found


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Stack) -> str:
    return stack.kafka_bootstrap


@pytest_asyncio.fixture(scope="session")
async def kafka_admin(stack: Stack) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    yield admin
    await admin.close()


@pytest_asyncio.fixture(scope="session")
async def mongo_client(stack: Stack) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """One client for the session; ``tz_aware`` like the application's clients."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    yield client
    await client.close()


@asynccontextmanager
async def _own_topics(admin: AIOKafkaAdminClient) -> AsyncIterator[dict[str, str]]:
    """Logical name (the ``TopicNames`` fields) -> a topic nobody else uses, deleted after."""
    prefix = _unique("t")
    names = {logical: f"{prefix}.{topic}" for logical, topic in asdict(TopicNames()).items()}
    partitions = {
        topic: 1 if logical in SINGLE_PARTITION_TOPICS else PARTITIONS
        for logical, topic in names.items()
    }
    dead_letter = names["dead_letter"]
    response = await admin.create_topics(
        [
            # the dead-letter topic as the projector creates it (``ensure_own_topics``)
            NewTopic(
                topic, count, 1, topic_configs=DEAD_LETTER_CONFIGS if topic == dead_letter else None
            )
            for topic, count in partitions.items()
        ]
    )
    errors = [(t, code, msg) for t, code, msg in response.topic_errors if code != 0]
    assert not errors, f"could not create test topics: {errors}"
    await wait_for_leaders(admin, partitions)
    yield names
    response = await admin.delete_topics(list(names.values()))
    failed = [
        (t, code)
        for t, code in response.topic_error_codes
        if code not in (0, _UNKNOWN_TOPIC_OR_PARTITION)
    ]
    assert not failed, f"could not delete test topics: {failed}"


@pytest_asyncio.fixture
async def mongo_db(
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database no other test uses, dropped afterwards."""
    async with own_database(mongo_client) as db:
        yield db


@pytest_asyncio.fixture
async def topic_names(kafka_admin: AIOKafkaAdminClient) -> AsyncIterator[dict[str, str]]:
    """Logical name (the ``TopicNames`` fields) -> a topic created for this test only.

    Names are the contract's names behind a unique prefix, e.g. ``t1a2b3c4d5e6f.erp.orders.v1``;
    ``TopicNames(**topic_names)`` gives the projector's configuration for them.
    """
    async with _own_topics(kafka_admin) as names:
        yield names


@pytest_asyncio.fixture(scope="module")
async def module_db(
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database the tests of one module share (for a process they share), dropped after."""
    async with own_database(mongo_client) as db:
        yield db


@pytest_asyncio.fixture(scope="module")
async def module_topic_names(kafka_admin: AIOKafkaAdminClient) -> AsyncIterator[dict[str, str]]:
    """Like ``topic_names``, shared by the tests of one module."""
    async with _own_topics(kafka_admin) as names:
        yield names
