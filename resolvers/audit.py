"""The record of cross-customer reads by support staff.

Every cross-customer read is written before its result is returned: if the record cannot be
written the read fails, so nothing is ever served without its trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from readmodel.documents import AuditEntry
from resolvers.errors import StoreUnavailable


class AuditSink(Protocol):
    """Where audit entries go; a test may collect them in memory instead."""

    async def record(self, entry: AuditEntry) -> None: ...


@dataclass(frozen=True)
class AuditRequest:
    """What the API layer knows about the request being audited.

    ``query`` is the GraphQL operation text and ``variables`` its variables; a caller outside
    GraphQL describes its own operation the same way.
    """

    operation: str
    query: str
    variables: Mapping[str, Any] = field(default_factory=dict)


class MongoAuditSink:
    """Appends entries to the audit collection (never rebuilt, so it has no generation)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str) -> None:
        self._collection = db[collection]

    async def record(self, entry: AuditEntry) -> None:
        try:
            await self._collection.insert_one(dict(entry))
        except PyMongoError as exc:
            raise StoreUnavailable("the audit log cannot be written; the read was refused") from exc
