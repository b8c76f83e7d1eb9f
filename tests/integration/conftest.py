"""Fixtures of the integration tests that start the API (the services' fixtures are in
``tests/conftest.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from projections.store import ProjectionStore
from tests.helpers import CommandRecorder, Stack
from tests.integration.api_harness import ApiProcess, SharedApis, api_env, run_api
from tests.integration.projector_harness import Pipeline


@pytest.fixture
def pipeline(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]], topic_names: dict[str, str]
) -> Pipeline:
    """The test's database and topics, with a projector group named for it."""
    return Pipeline(stack, mongo_db.name, topic_names, f"projector-{uuid.uuid4().hex[:8]}")


@pytest_asyncio.fixture(scope="module")
async def shared_apis(
    stack: Stack,
    module_db: AsyncDatabase[dict[str, Any]],
    module_topic_names: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SharedApis]:
    """The module's ``python -m web`` processes, one per environment (on the module's database
    and topics): each start costs a second or more of CPU, most of it imports."""
    topics = {f"TOPIC_{name.upper()}": topic for name, topic in module_topic_names.items()}
    apis = SharedApis(api_env(stack, module_db.name, **topics), tmp_path_factory.mktemp("api"))
    try:
        yield apis
    finally:
        apis.stop()


@pytest_asyncio.fixture
async def api_process(shared_apis: SharedApis, request: pytest.FixtureRequest) -> ApiProcess:
    """``python -m web`` shared with the module's other tests that ask for the same
    variables, given by indirect parametrization
    (``parametrize("api_process", [{...}], indirect=True)``). A test that stops or signals
    the process, reads its whole log or needs its database takes ``own_api_process``."""
    extra: dict[str, str] = getattr(request, "param", {})
    return await shared_apis.get(extra)


@pytest_asyncio.fixture
async def own_api_process(
    stack: Stack,
    mongo_db: AsyncDatabase[dict[str, Any]],
    topic_names: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[ApiProcess]:
    """``python -m web`` for this test alone, on its ``mongo_db`` and topics; more variables
    may be given by indirect parametrization, as for ``api_process``."""
    topics = {f"TOPIC_{name.upper()}": topic for name, topic in topic_names.items()}
    extra: dict[str, str] = getattr(request, "param", {})
    env = api_env(stack, mongo_db.name, **topics, **extra)
    async for api in run_api(env, tmp_path / "api.log"):
        yield api


@pytest.fixture
async def second_db(
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[Any]]:
    """A second empty database (a reference run beside the one under test), dropped after."""
    name = f"ref_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest_asyncio.fixture
async def recorded_db(
    stack: Stack, mongo_db: AsyncDatabase[dict[str, Any]]
) -> AsyncIterator[tuple[AsyncDatabase[dict[str, Any]], CommandRecorder]]:
    """``mongo_db``'s database through a client that records what it sends."""
    recorder = CommandRecorder()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.mongodb_uri, tz_aware=True, tzinfo=UTC, event_listeners=[recorder]
    )
    try:
        yield client[mongo_db.name], recorder
    finally:
        await client.close()


@pytest_asyncio.fixture
async def recorded_store(
    recorded_db: tuple[AsyncDatabase[dict[str, Any]], CommandRecorder],
) -> tuple[ProjectionStore, CommandRecorder]:
    """A store whose client records what it sends (``mongo_db``'s database, dropped after)."""
    db, recorder = recorded_db
    store = ProjectionStore(db)
    await store.ensure_collections("")
    return store, recorder
