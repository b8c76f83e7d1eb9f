"""The per-request context every field resolver finds on ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

import strawberry

from entitlements.caller import Caller
from entitlements.policy import Policy
from resolvers.audit import AuditSink, MongoAuditSink
from resolvers.collections import CollectionNames
from resolvers.freshness import DEFAULT_STALE_AFTER
from resolvers.readers import Clock, Database, Readers, utc_now


@dataclass
class GraphContext:
    """What one request brings: the caller's readers, the caller, and the transport request.

    Built by the web layer per request (Strawberry's ``get_context``), never shared between
    requests: the readers hold that request's DataLoaders and scope.
    """

    readers: Readers
    caller: Caller | None
    request: Any | None = None

    @classmethod
    def build(
        cls,
        db: Database,
        policy: Policy,
        caller: Caller | None,
        audit: AuditSink | None = None,
        request: Any | None = None,
        *,
        collections: CollectionNames | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        clock: Clock = utc_now,
    ) -> GraphContext:
        """The context for one request; ``audit`` defaults to the database's audit collection."""
        names = collections or CollectionNames()
        sink = audit if audit is not None else MongoAuditSink(db, names.audit_log)
        readers = Readers(db, policy, caller, sink, names, clock=clock, stale_after=stale_after)
        return cls(readers=readers, caller=caller, request=request)


Info: TypeAlias = strawberry.Info[GraphContext, None]


def readers_of(info: Info) -> Readers:
    return info.context.readers
