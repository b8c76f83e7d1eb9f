"""The per-request context every field resolver finds on ``info.context``."""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

import strawberry
from strawberry.extensions import SchemaExtension

from graph.subscriptions import LivePosition
from readmodel.collections import CollectionNames
from resolvers.access import Caller, Policy
from resolvers.audit import AuditSink, MongoAuditSink
from resolvers.freshness import DEFAULT_STALE_AFTER
from resolvers.generation import GenerationPointer
from resolvers.readers import DEFAULT_STORE_MAX_TIME_MS, Clock, Database, Readers, utc_now


def generation_pointer(names: CollectionNames, *, max_age_seconds: float) -> GenerationPointer:
    """The process's remembered read pointer (``resolvers.generation``): the web layer builds
    one per process and hands it to every request's context."""
    return GenerationPointer(names, max_age_seconds=max_age_seconds)


def audit_log(db: Database, names: CollectionNames) -> AuditSink:
    """The sink writing to ``db``'s audit collection: the web layer builds it once per process
    (a sink per request would cost a collection handle each time)."""
    return MongoAuditSink(db, names.audit_log)


@dataclass
class GraphContext:
    """What one request brings: the caller's readers, the caller, the transport request, and
    the process's live feed position (``live``: None where the process serves no live feed).

    Built by the web layer per request (Strawberry's ``get_context``), never shared between
    requests: the readers hold that request's DataLoaders and scope.
    """

    readers: Readers
    caller: Caller | None
    request: Any | None = None
    live: LivePosition | None = None

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
        pointer: GenerationPointer | None = None,
        store_max_time_ms: int = DEFAULT_STORE_MAX_TIME_MS,
        live: LivePosition | None = None,
    ) -> GraphContext:
        """The context for one request; ``audit`` defaults to the database's audit collection;
        ``pointer`` is the process's (None: the generation pointer is read per request)."""
        names = collections or CollectionNames()
        sink = audit if audit is not None else audit_log(db, names)
        readers = Readers(
            db,
            policy,
            caller,
            sink,
            names,
            clock=clock,
            stale_after=stale_after,
            pointer=pointer,
            max_time_ms=store_max_time_ms,
        )
        return cls(readers=readers, caller=caller, request=request, live=live)

    def close(self) -> None:
        """The request has ended (``Readers.close``): the web layer calls this once its
        operation has an answer."""
        self.readers.close()

    def for_caller(self, caller: Caller) -> GraphContext:
        """A context for one operation of ``caller``: same store, readers of its own."""
        return GraphContext(
            readers=self.readers.for_caller(caller),
            caller=caller,
            request=self.request,
            live=self.live,
        )


#: The caller a WebSocket connection authenticated in ``connection_init``. ``web.live`` sets it
#: before ``connection_ack``, so every operation task the connection starts afterwards
#: inherits it (the context object itself was built at the handshake, before any token).
connection_caller: ContextVar[Caller | None] = ContextVar("connection_caller", default=None)


class ConnectionCaller(SchemaExtension):
    """Runs each operation of an authenticated WebSocket connection as its caller.

    Queries over graphql-transport-ws are allowed by the protocol and must read what that
    caller may read. Each operation gets readers of its own, so DataLoader caches live for one
    operation, as they do for one HTTP request, not for the connection's lifetime.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        caller = connection_caller.get()
        if caller is not None and isinstance(context, GraphContext) and context.caller is None:
            operation_context = context.for_caller(caller)
            self.execution_context.context = operation_context
            try:
                yield
            finally:
                operation_context.close()
            return
        yield


Info: TypeAlias = strawberry.Info[GraphContext, None]


def readers_of(info: Info) -> Readers:
    return info.context.readers
