"""Fixtures of the integration tests that start the API (the services' fixtures are in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from tests.conftest import Stack
from tests.integration.api_harness import ApiProcess, api_env, run_api


@pytest_asyncio.fixture
async def api_process(
    stack: Stack,
    mongo_db: AsyncDatabase[dict[str, Any]],
    topic_names: dict[str, str],
    tmp_path: Path,
) -> AsyncIterator[ApiProcess]:
    topics = {f"TOPIC_{name.upper()}": topic for name, topic in topic_names.items()}
    async for api in run_api(api_env(stack, mongo_db.name, **topics), tmp_path / "api.log"):
        yield api
