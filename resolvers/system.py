"""Reads for the operators' side (metrics), made without a caller.

Only the ``sources`` collection is read here: it holds per-source freshness and no tenant
data, so no entitlement applies. Everything tenant-scoped goes through ``Readers``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from resolvers.collections import CollectionNames, suffix_from_pointer


async def last_applied_by_source(
    db: AsyncDatabase[dict[str, Any]], names: CollectionNames
) -> dict[str, datetime]:
    """When the projector last applied an event, per source, in the active generation."""
    pointer = await db[names.read_pointer].find_one({"_id": "active"})
    collection = names.generation(suffix_from_pointer(pointer)).of("sources")
    found: dict[str, datetime] = {}
    async for doc in db[collection].find({}, {"lastAppliedAt": 1}):
        applied = doc.get("lastAppliedAt")
        if isinstance(applied, datetime):
            found[str(doc["_id"])] = applied if applied.tzinfo else applied.replace(tzinfo=UTC)
    return found
