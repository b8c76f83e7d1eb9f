"""GraphQL subscriptions: live shipment milestones, resumable by cursor.

The resolvers here know nothing of Kafka or WebSockets. They ask the *feed* of the current
connection for notices; the web layer (``web.live``) implements ``LiveFeed`` for one
authenticated WebSocket connection and publishes it in ``current_feed`` once the connection's
``connection_init`` carried a valid token. A ``ContextVar`` is the seam because the feed is
known only after the context object was built (at the WebSocket handshake, before
``connection_init``), and every operation task of the connection is started after that point,
so each inherits it. The process's position in the change log (``LivePosition``, for
``Query.liveCursor``) is known before any request, so it travels on the request context.

Entitlements are applied by the feed (it holds the caller's ``Scope``); the selection below
only narrows what the caller asked for.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol

import strawberry
from graphql import GraphQLError, GraphQLResolveInfoHelpers
from graphql.pyutils import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.enums import ShipmentStatus, enum_or_none, names_of
from graph.global_ids import lookup_number
from graph.values import Milestone
from readmodel.changes import ShipmentChange
from readmodel.search_keys import tracking_key
from resolvers.errors import BadCursor as BadCursor
from resolvers.errors import CursorExpired as CursorExpired
from resolvers.errors import FeedUnavailable as FeedUnavailable
from resolvers.errors import Forbidden as Forbidden
from resolvers.errors import ResolverError, Unauthenticated

# --- the seam to the web layer -------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneSelection:
    """What a subscriber asked for; ``None`` means "any". Entitlements are applied separately."""

    shipment_id: str | None = None
    customer_id: str | None = None
    statuses: frozenset[str] | None = None
    tracking_number: str | None = None
    #: ``tracking_number``'s key (``search_keys.tracking_key``), computed once: ``selects``
    #: runs for every notice of every subscriber.
    _tracking_key: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        typed = self.tracking_number
        object.__setattr__(self, "_tracking_key", None if typed is None else tracking_key(typed))

    def selects(self, change: ShipmentChange) -> bool:
        """Whether ``change`` is one the subscriber asked for.

        A tracking number matches as the lookup by number finds it: by its key
        (``search_keys.tracking_key``, without spaces and dashes, case-folded): people type
        it from a label, which prints it in groups (``9600 0005 19`` for ``9600000519``), in
        lower case on a phone, and a TMS may store it in groups or in mixed case.
        """
        if self.shipment_id is not None and change.shipment_id != self.shipment_id:
            return False
        if self.customer_id is not None and change.customer_id != self.customer_id:
            return False
        if self.statuses is not None and change.status not in self.statuses:
            return False
        if self._tracking_key is not None:  # "" (spaces or dashes alone) names no number
            stored = change.tracking_number
            return (
                bool(self._tracking_key)
                and stored is not None
                and (tracking_key(stored) == self._tracking_key)
            )
        return True


@dataclass(frozen=True)
class LiveNotice:
    """A change notice as delivered to one subscriber, with the cursor that follows it."""

    cursor: str
    change: ShipmentChange


class LiveFeed(Protocol):
    """The notices one authenticated connection may see."""

    def stream(self, selection: MilestoneSelection, after: str | None) -> AsyncIterator[LiveNotice]:
        """Notices matching ``selection`` and the caller's scope, oldest first.

        With ``after``, first those after that cursor still in the log, then live ones, with
        no gap and no duplicate. Raises ``resolvers.errors.ResolverError`` subclasses.
        """
        ...


#: The feed of the WebSocket connection whose operation is running; set by ``web.live``.
current_feed: ContextVar[LiveFeed | None] = ContextVar("current_feed", default=None)


class LivePosition(Protocol):
    """Where the process's live feed stands in the change log (``Query.liveCursor``); the
    web layer puts it on the request context (``GraphContext.live``)."""

    def resume_cursor(self) -> str:
        """A cursor (``after``) from which a subscription receives every notice this process
        has not yet read from the change log, whichever replica it resumes on; raises
        ``FeedUnavailable`` while the process does not know its position (no Kafka yet).

        The same for every caller (the log holds every customer's notices, and a cursor
        tells nothing but how far it has come): who may have one is the field's to check.
        """
        ...


# --- execution -------------------------------------------------------------------------------


class SubscriptionExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, without graphql-core 3.3's per-event memory growth.

    graphql-core 3.3 runs each subscription event on a shallow copy of the subscription's
    executor, so every event shares its ``collect_subfields`` memo. That memo is keyed by
    the identity of the field list, which is new for every event: the dict gains an entry
    per object-typed field per event and is freed only when the subscription ends (about
    2 KB per event measured, i.e. unbounded growth on a long-lived connection). Giving each
    per-event executor a fresh memo keeps the within-event memoisation and drops the growth.
    Its resolver helpers hold it weakly (``weak_async_helpers``), so that a finished
    operation is freed at once. Pass it as ``execution_context_class`` when building the
    schema.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = weak_async_helpers(self)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        if hasattr(executor, "_relevant_sub_fields"):
            executor._relevant_sub_fields = {}
        return executor


def weak_async_helpers(executor: Any) -> GraphQLResolveInfoHelpers:
    """graphql-core's resolver helpers (``info.async_helpers``) for ``executor``, holding it
    weakly.

    graphql-core binds them to the executor, which holds them: a reference cycle that keeps
    every finished operation, its context and so the request's documents alive until the
    garbage collector runs. Its pauses (tens of milliseconds for the 50,000 objects
    ``config.garbage`` lets accumulate) were then most of a customer page's p99 (docs/benchmarks.md,
    "Pages, session 7"). An executor is alive while its operation runs; a helper called after
    that (a resolver left running in the background) does what the executor's would have:
    gather with cancellation, or settle in the background.
    """
    owner = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        live = owner()
        return live.gather_async_work(values) if live is not None else gather_with_cancel(*values)

    def track(values: Sequence[Any]) -> None:
        live = owner()
        if live is not None:
            live.track_async_work(values)
        else:
            asyncio.gather(*(v for v in values if inspect.isawaitable(v)), return_exceptions=True)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


# --- GraphQL types -------------------------------------------------------------------------


@strawberry.type(
    description=(
        "A shipment milestone (or a status change without one, such as a cancellation) as it "
        "was projected. Refetch the shipment for the full picture."
    )
)
class MilestoneEvent:
    cursor: str = strawberry.field(
        description=(
            "Opaque position of this event in the change log. Pass it as `after` when "
            "resubscribing to receive every event after this one."
        )
    )
    shipment_id: strawberry.ID = strawberry.field(
        description="The number of the shipment that changed (`Shipment.shipmentId`)."
    )
    tracking_number: str | None = strawberry.field(
        description="The carrier's tracking number, when the shipment plan is known."
    )
    customer_id: str = strawberry.field(description="Customer account that owns the shipment.")
    status: ShipmentStatus | None = strawberry.field(
        description=(
            "The shipment's portal status right after this change, even when later changes "
            "were stored with it (a milestone reported late, older than the shipment's newest, "
            "leaves it as it was); null only for a status this API version does not know yet."
        )
    )
    milestone: Milestone | None = strawberry.field(
        description="The milestone reported, or null for a change without one (cancellation)."
    )
    projected_at: datetime = strawberry.field(
        description="When the read model recorded the change (not when it happened)."
    )
    revision: int = strawberry.field(
        description=(
            "The revision of the shipment once this change was stored; several changes "
            "stored together share one, the revision after the last of them. Of two events "
            "of one shipment, the one with the higher revision is the later change, also "
            "across a rebuild of the read model (run by its operators): the rebuilt one's "
            "revisions start above the previous build's (docs/limits.md, for the rare "
            "exceptions)."
        )
    )
    abridged: bool = strawberry.field(
        description=(
            "True when the change was too large to send whole (a milestone with very long "
            "text, a shipment of very many orders): `milestone` holds only its source, id, "
            "code, status and times. Refetch the shipment for the rest."
        )
    )

    @classmethod
    def from_notice(cls, notice: LiveNotice) -> MilestoneEvent:
        change = notice.change
        return cls(
            cursor=notice.cursor,
            shipment_id=strawberry.ID(change.shipment_id),
            tracking_number=change.tracking_number,
            customer_id=change.customer_id,
            status=enum_or_none(ShipmentStatus, change.status),
            milestone=None if change.milestone is None else Milestone.read(change.milestone),
            projected_at=change.projected_at,
            revision=change.rev,
            abridged=change.abridged,
        )


_AFTER_DESCRIPTION = (
    "Resume after this cursor (from a previous event, a server ping's `checkpoints`, or "
    "`liveCursor`): events missed since then are sent first, then live ones. Fails with "
    "CURSOR_EXPIRED when it is older than the retained log, further behind its end than a "
    "resume may replay, or beyond its end (the log was created again): take a `liveCursor`, "
    "refetch, then subscribe with it."
)


@strawberry.type(description="Live updates, delivered over a WebSocket (graphql-transport-ws).")
class Subscription:
    @strawberry.subscription(  # type: ignore[untyped-decorator]
        description="Every milestone and status change of one shipment, as they are projected."
    )
    async def shipment_updates(
        self,
        shipment_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description=(
                    "The shipment to follow: its global `id` or its `shipmentId`; the global "
                    "id of another type is refused (BAD_USER_INPUT)."
                )
            ),
        ],
        after: Annotated[str | None, strawberry.argument(description=_AFTER_DESCRIPTION)] = None,
    ) -> AsyncGenerator[MilestoneEvent, None]:
        try:
            number = lookup_number("shipments", str(shipment_id))
        except ResolverError as exc:
            raise _refusal(exc) from exc
        async for event in _events(MilestoneSelection(shipment_id=number), after):
            yield event

    @strawberry.subscription(  # type: ignore[untyped-decorator]
        description=(
            "Milestones of every shipment you may see, optionally narrowed by customer, "
            "status or tracking number."
        )
    )
    async def milestone_feed(
        self,
        customer_id: Annotated[
            str | None,
            strawberry.argument(
                description="Only this customer account: one of yours, FORBIDDEN otherwise."
            ),
        ] = None,
        statuses: Annotated[
            list[ShipmentStatus] | None,
            strawberry.argument(description="Only changes leaving the shipment in one of these."),
        ] = None,
        tracking_number: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "Only shipments with this tracking number, matched as "
                    "shipmentByTrackingNumber finds it: without spaces and dashes and in any "
                    "case on both sides, so 9600 0005 19 follows 9600000519 and PRO555 "
                    "follows PRO-555 (a carrier may reuse a number: every shipment carrying "
                    "it matches)."
                )
            ),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=_AFTER_DESCRIPTION)] = None,
    ) -> AsyncGenerator[MilestoneEvent, None]:
        selection = MilestoneSelection(
            customer_id=customer_id,
            statuses=names_of(statuses),
            tracking_number=tracking_number,
        )
        async for event in _events(selection, after):
            yield event


async def _events(
    selection: MilestoneSelection, after: str | None
) -> AsyncGenerator[MilestoneEvent, None]:
    feed = current_feed.get()
    try:
        if feed is None:
            raise Unauthenticated(
                "Subscriptions need a WebSocket connection whose connection_init payload "
                'carries a token, e.g. {"Authorization": "Bearer <jwt>"}.'
            )
        async for notice in feed.stream(selection, after):
            yield MilestoneEvent.from_notice(notice)
    except ResolverError as exc:
        raise _refusal(exc) from exc


def _refusal(exc: ResolverError) -> GraphQLError:
    """A resolver's refusal as the subscription's error, with its code."""
    return GraphQLError(exc.message, extensions=exc.extensions, original_error=exc)
