"""``Readers``: every read of the projections, for one caller, under their entitlements.

One ``Readers`` is built per request. Each method obtains the caller's ``Scope``, ANDs
``scope.mongo_filter(kind)`` into every query it sends, checks ``scope.allows`` on every
document it receives and passes each one through ``scope.redact`` before returning it. Every
query goes through ``_find``/``_count``, which take the scope as an argument, so a new method
cannot read without one.

Round trips per request are bounded by the shape of the query, never by the number of items:

* the projection generation is resolved once, on the first data access, through the
  process's ``GenerationPointer`` (which reads ``read_pointer`` at most once a second, so
  most requests make no round trip for it; see ``resolvers.generation``);
* entities by id go through per-request DataLoaders: all ids asked for in one tick of the
  event loop become one ``{_id: {$in: [...]}}`` query AND-ed with the scope filter, which
  returns every match however many ids it names;
* a connection page is one query (``first + 1`` documents) per customer read (several
  customers: one ordered read each, merged, see ``resolvers.customer_merge``); the scope
  filter matches what ``allows`` accepts for every caller (warehouse limits included,
  through the projector's ``warehouseIds``, see ``entitlements.scope``), so only a
  document ``allows`` rejects against its filter (a stored field its summaries do not
  justify) makes it read on; a
  process's first page of a caller's list in a sort order (or its first page past a
  cursor: the cursor's widths are bounded by that hint) also probes for its window hint,
  once, at most ``paging_windows.PROBE_MAX`` small reads; a page of 0 items
  (``first: 0``) reads one document as a page of one would (its windows, its probes in a
  new process) and teaches no hint;
* a ``customerId`` the client names is checked against the scope before any read
  (``Scope.check_customer``): outside it, FORBIDDEN, as on the live feed;
* related entities are served from the summaries embedded in the parent when a summary alone
  proves the caller may see the entity, otherwise through the DataLoader (one query per kind
  and nesting level); the links of parents overflowing with them (``links.overflowing``)
  through a DataLoader by parent too: one read of the documents naming any of them, per
  kind and nesting level (``_naming_loader``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, Final, Literal, TypeAlias, TypeVar

import orjson
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout, OperationFailure, PyMongoError
from strawberry.dataloader import DataLoader, DefaultCache

from entitlements.caller import Caller
from entitlements.errors import AuthenticationError, EntitlementError
from entitlements.policy import Policy, Scope
from readmodel import links as stored_links
from readmodel.collections import CollectionNames, Generation, ReadKind
from readmodel.documents import (
    CUSTOMER_REFERENCE_INDEX,
    INVOICE_NUMBER_INDEX,
    TRACKING_KEY,
    TRACKING_KEY_INDEX,
    TRACKING_NUMBER_INDEX,
    WITHOUT_BOOKKEEPING,
    AuditEntry,
    EntityKind,
    field_index,
    sort_index,
)
from readmodel.search_keys import (
    COMPLETE_MARKER,
    KEYS_FORMAT,
    KEYS_FORMAT_FIELD,
    TRACKING_KEYS_MARKER,
    tracking_key,
    tracking_number_forms,
)
from readmodel.server import is_ferretdb
from resolvers.audit import AuditRequest, AuditSink
from resolvers.customer_merge import merge_sorted, per_customer
from resolvers.errors import (
    BadUserInput,
    Forbidden,
    ResolverError,
    StoreUnavailable,
    Unauthenticated,
)
from resolvers.filters import InvoiceFilter, OrderFilter, ShipmentFilter, ShipmentSearch, combine
from resolvers.freshness import DEFAULT_STALE_AFTER, SourceFreshness, source_freshness
from resolvers.generation import GenerationPointer
from resolvers.paging import (
    DEFAULT_PAGE_SIZE,
    INVOICE_SORTS,
    ORDER_SORTS,
    SHIPMENT_SORTS,
    Page,
    PageRequest,
    Position,
    SortSpec,
    Widths,
    after_filter,
    build_page,
    position_of,
    read_path,
)
from resolvers.paging_windows import (
    EdgeSearch,
    Window,
    WindowHint,
    WindowHints,
    bounded_widths,
    first_hint,
    first_page_windows,
    learned_widths,
    now_point,
    windows_after,
)

Doc: TypeAlias = dict[str, Any]
_T = TypeVar("_T")
log = logging.getLogger(__name__)
#: The database handle readers are built on (so that layers above need not import the driver).
Database: TypeAlias = AsyncDatabase[Doc]
Clock: TypeAlias = Callable[[], datetime]

#: First-page window hints of this process (``resolvers.paging_windows``): a speed-up only.
PROCESS_WINDOW_HINTS: Final = WindowHints()
#: How long the store may spend on one read (``maxTimeMS``; ``STORE_MAX_TIME_MS``): a page
#: takes milliseconds, a count of 100,000 orders 0.1 s, a support search's plain first page
#: up to 1.6 s; a read past this is stopped by the store and answered SERVICE_UNAVAILABLE.
DEFAULT_STORE_MAX_TIME_MS: Final = 5000


def store_failed(exc: PyMongoError, max_time_ms: int) -> StoreUnavailable:
    """The error a failed read is answered with, the driver's error chained by the caller:
    a read the store stopped at ``max_time_ms`` says so (the client may retry later, or ask
    for less), anything else that the store is unavailable."""
    if isinstance(exc, ExecutionTimeout):
        return StoreUnavailable(
            f"the data store stopped a read that took longer than its limit of {max_time_ms} ms "
            "(STORE_MAX_TIME_MS); retry later, or narrow the filter"
        )
    return StoreUnavailable("the data store is unavailable; retry shortly")


@dataclass(frozen=True)
class BusinessKey:
    """A stored key clients look an entity up by, and what its lookup answers.

    None of these keys is unique, not even within one customer, and neither the store nor
    the upstream contract makes them so: a carrier reuses tracking numbers, one PO number is
    split over several sales orders, an invoice number may be printed twice. A lookup answers
    the ``newest`` match (that list order's first item, ties broken by ``_id``), read through
    the key's own ``index``: the sort alone would send the read through the customer's sort
    index, scanning their whole list for one key (230-360 ms for a tracking number of a
    customer of 100,000 shipments, 2 ms through its index); the few matches are sorted in
    memory.
    """

    field: str
    index: str
    newest: SortSpec


BUSINESS_KEYS: Final[dict[EntityKind, BusinessKey]] = {
    "orders": BusinessKey(
        "customerReference", CUSTOMER_REFERENCE_INDEX, ORDER_SORTS["ORDERED_AT_DESC"]
    ),
    "shipments": BusinessKey(
        "trackingNumber", TRACKING_NUMBER_INDEX, SHIPMENT_SORTS["PLANNED_PICKUP_AT_DESC"]
    ),
    "invoices": BusinessKey("invoiceNumber", INVOICE_NUMBER_INDEX, INVOICE_SORTS["ISSUED_AT_DESC"]),
}
#: A shipment's tracking number as the lookup by number compares it
#: (``search_keys.tracking_key``), in a generation whose shipments all hold it.
TRACKING_KEY_LOOKUP: Final = BusinessKey(
    TRACKING_KEY, TRACKING_KEY_INDEX, SHIPMENT_SORTS["PLANNED_PICKUP_AT_DESC"]
)
#: The kinds whose business key is the customer's own (``Readers.by_customer_key``).
CustomerKeyKind: TypeAlias = Literal["orders", "invoices"]
#: At most this many orders feed a search's "shipments of matching orders" branch; a search
#: matching more is refused (``too_many_orders``), never answered without some of their
#: shipments.
SEARCH_ORDER_MATCHES: Final = 500
#: A search matching more shipments than this through the search documents reads its page
#: the slow way (the pattern over the shipments, in windows of the sort order) rather than
#: sorting that many shipments read by id.
SEARCH_BY_ID_LIMIT: Final = 1000
#: The ``_id`` index, the hint of a page of shipments read by id (``search_shipments``):
#: DocumentDB may otherwise scan the customer's sort index and filter by id.
ID_INDEX: Final = "_id_"
#: Search side collections whose ``complete`` marker of today's form of keys this process
#: has seen (``readmodel.search_keys``): a marker is never removed, so once seen it is not
#: read again.
_FILLED_SEARCH_COLLECTIONS: Final[set[str]] = set()
#: Search side collections whose ``TRACKING_KEYS_MARKER`` this process has seen (likewise).
_TRACKING_KEYED_COLLECTIONS: Final[set[str]] = set()


def _within_order_matches(search: ShipmentSearch, order_ids: Iterable[str]) -> list[str]:
    """The distinct ``order_ids`` a search matched, refused (BAD_USER_INPUT) when more than
    ``SEARCH_ORDER_MATCHES``: the shipments of the others would be missing from the answer,
    and nothing in a page would say so."""
    distinct = list(dict.fromkeys(order_ids))
    if len(distinct) > SEARCH_ORDER_MATCHES:
        raise BadUserInput(
            f"text: more than {SEARCH_ORDER_MATCHES} orders match {search.text!r}, too many "
            "to search their shipments; search for a longer text, or pass customerId"
        )
    return distinct


def tracking_lookup(typed: str, *, keyed: bool) -> tuple[BusinessKey, str | dict[str, Any]] | None:
    """What a lookup by the tracking number ``typed`` reads (``Readers.shipment_by_tracking``):
    the business key it reads through and the value it asks that field for. ``keyed``: the
    generation's shipments all hold their ``search_keys.tracking_key``; the key's equality
    then, else the number's forms (``search_keys.tracking_number_forms``, ``$in``). None
    when ``typed`` names no number (spaces or dashes alone: its key is empty), as the live
    feed follows none for it."""
    key = tracking_key(typed)
    if not key:
        return None
    if keyed:
        return TRACKING_KEY_LOOKUP, key
    forms = list(tracking_number_forms(typed))
    return BUSINESS_KEYS["shipments"], forms[0] if len(forms) == 1 else {"$in": forms}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RelatedEntity:
    """An entity named by another one, as far as the caller may see it.

    ``summary`` is the summary embedded in the parent (possibly empty); ``document`` is the
    full document when it had to be loaded to prove visibility, else None: fields outside the
    summary are then loaded with ``Readers.load``.
    """

    kind: EntityKind
    id: str
    summary: Mapping[str, Any]
    document: Doc | None


@dataclass(frozen=True)
class _Links:
    """What one parent links to, and which of those links its summaries prove visible."""

    kind: EntityKind
    ids: list[str]
    summaries: dict[str, Mapping[str, Any]]
    proven: set[str]
    #: The parent has more such links than it embeds summaries of (``links.overflowing``):
    #: ``ids`` are then only some of them.
    overflowing: bool = False

    def visible(self, loaded: Mapping[str, Doc | None]) -> list[RelatedEntity]:
        """The links proven visible or loaded (``loaded``: id -> visible document or None)."""
        out: list[RelatedEntity] = []
        for entity_id in self.ids:
            document = loaded.get(entity_id)
            if entity_id in self.proven or document is not None:
                summary = self.summaries.get(entity_id, {})
                out.append(RelatedEntity(self.kind, entity_id, summary, document))
        return out


@dataclass(frozen=True, slots=True)
class _ListRead:
    """One read of a list: whose (``scope``), of which kind, which of its documents (the
    client's ``query``, the scope filter not yet added) and in which order (``sort``, the
    reading order). A page, its window hint and its count all read one list so named."""

    scope: Scope
    kind: EntityKind
    query: Mapping[str, Any]
    sort: SortSpec

    def past(self, position: Position | None) -> dict[str, Any]:
        """``query`` from just after ``position`` on (None: from the start)."""
        if position is None:
            return dict(self.query)
        return combine(self.query, after_filter(self.sort, position))


def _converted(exc: EntitlementError) -> ResolverError:
    if isinstance(exc, AuthenticationError):
        return Unauthenticated(str(exc))
    return Forbidden(str(exc))


def _public(doc: Mapping[str, Any]) -> Doc:
    """Drop bookkeeping fields (``_orderState`` ...): they are the projector's, not the API's."""
    return {k: v for k, v in doc.items() if k == "_id" or not k.startswith("_")}


def summary_proves_visible(
    scope: Scope, kind: EntityKind, entity_id: str, summary: Mapping[str, Any] | None
) -> bool:
    """Whether a summary alone shows the caller may see the entity (no query needed).

    Only a summary that states its entity's ``customerId`` can. The projector summarises
    only known documents, so a summary vouches for ``known`` unless it says otherwise. The
    scope's ``allows`` fails closed on anything else it would need (e.g. a warehouse
    restriction on shipments needs their orders); the entity is then loaded and checked whole.
    """
    if summary is None or not isinstance(summary.get("customerId"), str):
        return False
    probe = {
        "_id": entity_id,
        "customerId": summary["customerId"],
        "known": summary.get("known", True) is True,
        "warehouseId": summary.get("warehouseId"),
    }
    return scope.allows(kind, probe)


class Readers:
    """All reads of one request, for one caller (None when the request carried no token)."""

    def __init__(
        self,
        db: Database,
        policy: Policy,
        caller: Caller | None,
        audit: AuditSink,
        collections: CollectionNames | None = None,
        *,
        clock: Clock = utc_now,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        pointer: GenerationPointer | None = None,
        window_hints: WindowHints = PROCESS_WINDOW_HINTS,
        max_time_ms: int = DEFAULT_STORE_MAX_TIME_MS,
    ) -> None:
        """``pointer`` is the process's shared one; without it the pointer is read once per
        ``Readers`` (one request). ``max_time_ms``: how long the store may spend on one read
        of a list, a search or a count (``maxTimeMS``)."""
        self._db = db
        self._max_time_ms = max_time_ms
        self._window_hints = window_hints
        self._policy = policy
        self._caller = caller
        self._audit = audit
        self._names = collections or CollectionNames()
        self._clock = clock
        self._stale_after = stale_after
        self._scope: Scope | None = None
        self._pointer = pointer or GenerationPointer(self._names, max_age_seconds=0)
        self._generation: Generation | None = None
        self._pointer_lock = asyncio.Lock()
        self._loaders: dict[EntityKind, DataLoader[str, Doc | None]] = {}
        #: (holder kind, kind) -> the documents of ``kind`` naming a holder, by holder id
        #: (``_naming_loader``).
        self._naming_loaders: dict[tuple[EntityKind, EntityKind], DataLoader[str, list[Doc]]] = {}
        #: The tasks counting for this request now (``_until_closed``): cancelled by ``close``.
        self._counting: set[asyncio.Task[Any]] = set()
        #: What this request read, queried or served from embedded summaries: the sources
        #: whose freshness its response reports (``resolvers.freshness.sources_for``).
        self.kinds_read: set[ReadKind] = set()

    def for_caller(self, caller: Caller) -> Readers:
        """Readers of the same store for another caller, with caches of their own."""
        return Readers(
            self._db,
            self._policy,
            caller,
            self._audit,
            self._names,
            clock=self._clock,
            stale_after=self._stale_after,
            pointer=self._pointer,
            window_hints=self._window_hints,
            max_time_ms=self._max_time_ms,
        )

    # --- who ---------------------------------------------------------------------------

    @property
    def caller(self) -> Caller | None:
        return self._caller

    @property
    def scope(self) -> Scope:
        """The caller's own scope (raises ``Unauthenticated`` without a valid caller)."""
        if self._scope is None:
            self._scope = self._scope_for(cross_customer=False)
        return self._scope

    def now(self) -> datetime:
        return self._clock()

    def _scope_for(self, *, cross_customer: bool) -> Scope:
        caller = self._caller
        if caller is None:
            raise Unauthenticated("authentication required: send a bearer token")
        if caller.valid_until <= self._clock():
            raise Unauthenticated("the token has expired")
        try:
            return self._policy.scope(caller, cross_customer=cross_customer)
        except EntitlementError as exc:
            raise _converted(exc) from exc

    @staticmethod
    def _naming(scope: Scope, customer_id: str | None) -> Scope:
        """``scope`` narrowed to the customer a client named (``Scope.narrowed``), once it
        is one the scope names; FORBIDDEN otherwise, before anything is read."""
        try:
            return scope.narrowed(customer_id)
        except EntitlementError as exc:
            raise _converted(exc) from exc

    @staticmethod
    def _scope_filter(scope: Scope, kind: ReadKind, *, search_keys: bool = False) -> dict[str, Any]:
        """``scope``'s filter of ``kind`` (of its search documents with ``search_keys``:
        ``Scope.search_keys_filter``), a refusal raised as the API's error (``_converted``)."""
        try:
            return scope.search_keys_filter(kind) if search_keys else scope.mongo_filter(kind)
        except EntitlementError as exc:
            raise _converted(exc) from exc

    # --- the store ---------------------------------------------------------------------

    async def _collection(self, kind: ReadKind) -> AsyncCollection[Doc]:
        """The collection of ``kind`` in the generation this request reads (resolved once)."""
        self.kinds_read.add(kind)
        generation = self._generation
        if generation is None:
            async with self._pointer_lock:
                if self._generation is None:
                    self._generation = await self._pointer.current(self._db)
            generation = self._generation
        return self._db[generation.of(kind)]

    async def _find(
        self,
        scope: Scope,
        kind: ReadKind,
        query: Mapping[str, Any],
        *,
        sort: Sequence[tuple[str, int]] | None = None,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
        index: str | None = None,
    ) -> list[Doc]:
        """Raw documents matching ``query`` AND the scope filter (not yet checked or redacted).

        A sorted, limited read for several customers is one read per customer, merged
        (``resolvers.customer_merge``): each is an ordered index scan that stops at the limit.
        A read through a named ``index`` (a business key's, ``_id``'s) is one read, its few
        matches sorted by the store, as is one whose ``scope`` a client narrowed to one
        customer (``_naming``).
        """
        scope_filter = self._scope_filter(scope, kind)
        collection = await self._collection(kind)
        mergeable = sort is not None and len(sort) == 2 and limit > 0
        mergeable = mergeable and projection is None and index is None
        split = per_customer(scope_filter) if mergeable else None
        try:
            if split is None:
                return await self._find_in(
                    kind, collection, combine(query, scope_filter), sort, limit, projection, index
                )
            answers = await asyncio.gather(
                *(
                    self._find_in(kind, collection, combine(query, one), sort, limit, index=index)
                    for one in split
                )
            )
        except PyMongoError as exc:
            raise store_failed(exc, self._max_time_ms) from exc
        assert sort is not None
        return [dict(doc) for doc in merge_sorted(answers, sort, limit)]

    async def _find_in(
        self,
        kind: ReadKind,
        collection: AsyncCollection[Doc],
        query: Mapping[str, Any],
        sort: Sequence[tuple[str, int]] | None,
        limit: int,
        projection: Mapping[str, Any] | None = None,
        index: str | None = None,
    ) -> list[Doc]:
        """One ``find``; the hint is ``index`` if given, else, for a sorted read of one
        customer, its ordered index (``documents.sort_index``).

        The projector creates that index before it writes a generation. A store that
        refuses the hint (the index is missing: documents written by something else) is
        asked again without it, so a missing index costs speed, not answers.
        """
        if projection is None:  # the whole document, but for the projector's bookkeeping
            projection = WITHOUT_BOOKKEEPING.get(kind)
        hint = index
        if hint is None and sort and limit and isinstance(query.get("customerId"), str):
            hint = sort_index(kind, sort[0][0])
        sorting = list(sort) if sort else None
        # everything a limited read asks for in its first reply: a ``getMore`` for what a
        # default first batch (101) leaves cost 7 ms more on FerretDB 2 (256 sort values of a
        # 300-entry range: 10.0 ms in two batches, 2.5 ms in one)
        options: dict[str, Any] = {
            "sort": sorting,
            "limit": limit,
            "batch_size": limit,
            "max_time_ms": self._max_time_ms,
        }
        if hint is not None:
            try:
                return await collection.find(query, projection, hint=hint, **options).to_list()
            except ExecutionTimeout:
                raise  # the read was stopped, not refused: again without the index costs more
            except OperationFailure:
                log.warning("index %s of %s refused as a hint; reading without", hint, kind)
        return await collection.find(query, projection, **options).to_list()

    def _visible(
        self, scope: Scope, kind: ReadKind, docs: Iterable[Mapping[str, Any]]
    ) -> list[Doc]:
        return [_public(scope.redact(kind, doc)) for doc in docs if scope.allows(kind, doc)]

    async def _count(self, scope: Scope, kind: ReadKind, query: Mapping[str, Any]) -> int:
        scoped = combine(query, self._scope_filter(scope, kind))
        collection = await self._collection(kind)
        try:
            return await collection.count_documents(scoped, maxTimeMS=self._max_time_ms)
        except PyMongoError as exc:
            raise store_failed(exc, self._max_time_ms) from exc

    # --- entities by id ----------------------------------------------------------------

    def loader(self, kind: EntityKind) -> DataLoader[str, Doc | None]:
        """The request's DataLoader for ``kind``: visible, redacted documents by id (or None)."""
        if kind not in self._loaders:

            async def load(ids: list[str]) -> list[Doc | None]:
                return await self._load_by_ids(kind, ids)

            self._loaders[kind] = DataLoader(load_fn=load, loop=asyncio.get_running_loop())
        return self._loaders[kind]

    def close(self) -> None:
        """The request has ended: its DataLoaders go, and a load still pending is cancelled.

        Each loader's function refers to these readers, which hold the loaders: a reference
        cycle that would keep the request's documents alive until the garbage collector runs,
        whose pauses were a page's p99 (docs/benchmarks.md, "Pages, session 7"). Dropping the
        loaders here breaks it, so reference counting frees the request at once. A load pending now
        was left behind by the operation (graphql-core does not cancel a field's siblings
        when one of them fails): nothing will read its answer, so it is cancelled, and its
        batch never queries the store (Strawberry skips or cancels a batch whose callers
        are all cancelled). The readers stay usable: a later load gets a new loader. A count
        still running (``_until_closed``) is cancelled too: nothing will read it either.

        Every pending load's future is in the loader's cache: these loaders cache (the
        default), and nothing here clears a key (``prime`` without ``force`` keeps a cached
        future, and answers a pending one, taking it out of the batch). So cancelling the
        cache's futures cancels every batch's tasks too.
        """
        counting, self._counting = self._counting, set()
        for task in counting:
            task.cancel()
        loaders: list[DataLoader[str, Any]] = [*self._loaders.values()]
        loaders += self._naming_loaders.values()
        self._loaders, self._naming_loaders = {}, {}
        for loader in loaders:
            cache = loader.cache_map
            pending = cache.cache_map.values() if isinstance(cache, DefaultCache) else ()
            for future in list(pending):
                future.cancel()  # no effect on a future already answered
            loader.clear_all()

    async def _until_closed(self, counting: Awaitable[_T]) -> _T:
        """``counting``, in a task ``close`` cancels: a page's count runs in a task of its
        own (``Page.total``, shielded so that one alias of ``totalCount`` cancelled leaves the
        others their answer), which would otherwise go on reading for up to ``maxTimeMS``
        after the request that asked it was answered or its client went away."""
        task = asyncio.current_task()
        assert task is not None, "a count runs in a task"
        self._counting.add(task)
        try:
            return await counting
        finally:
            self._counting.discard(task)

    async def load(self, kind: EntityKind, entity_id: str) -> Doc | None:
        """One entity by id: None when it does not exist or is not the caller's to see."""
        return await self.loader(kind).load(entity_id)

    async def load_many(self, kind: EntityKind, ids: list[str]) -> list[Doc | None]:
        """Entities by id, in order (None where there is none the caller may see).

        A batch the request's DataLoader holds none of is read at once, and its answers kept
        by the DataLoader (a later ``load`` of one of them reads nothing): the DataLoader's
        own path makes and gathers a future per id, 0.4 ms of the event loop for the 100
        representations of one ``_entities`` request, for the same answer. A single id, or a
        batch the DataLoader already holds some of, goes through it: a single id is batched
        with the other fields' loads of the same moment (``order(id:)`` fields)."""
        loader = self.loader(kind)
        if len(ids) < 2 or any(loader.cache_map.get(i) is not None for i in ids):
            return await loader.load_many(ids)
        found = await self._load_by_ids(kind, ids)
        loader.prime_many(dict(zip(ids, found, strict=True)))
        return found

    async def _load_by_ids(self, kind: EntityKind, ids: list[str]) -> list[Doc | None]:
        scope = self.scope
        unique = list(dict.fromkeys(ids))
        docs = await self._find(scope, kind, {"_id": {"$in": unique}}, limit=len(unique))
        by_id = {doc["_id"]: doc for doc in self._visible(scope, kind, docs)}
        return [by_id.get(entity_id) for entity_id in ids]

    def _prime(self, kind: EntityKind, docs: Iterable[Doc]) -> None:
        loader = self.loader(kind)
        for doc in docs:
            loader.prime(doc["_id"], doc)

    # --- entities by a business key ----------------------------------------------------

    async def _lookup(
        self,
        kind: EntityKind,
        query: Mapping[str, Any],
        *,
        limit: int,
        sort: Sequence[tuple[str, int]] | None = None,
        index: str | None = None,
    ) -> list[Doc]:
        scope = self.scope
        found = await self._find(scope, kind, query, sort=sort, limit=limit, index=index)
        docs = self._visible(scope, kind, found)[:limit]
        self._prime(kind, docs)
        return docs

    @staticmethod
    def _for_customer(customer_id: str | None) -> dict[str, Any]:
        return {"customerId": customer_id} if customer_id is not None else {}

    async def _newest(
        self,
        kind: EntityKind,
        value: str | Mapping[str, Any],
        customer_id: str | None,
        key: BusinessKey | None = None,
    ) -> Doc | None:
        """The caller's newest ``kind`` document whose business key (``key``, by default
        ``BUSINESS_KEYS``) is ``value`` (or meets the condition), of ``customer_id`` if
        given; None when the caller has none."""
        key = key or BUSINESS_KEYS[kind]
        self._naming(self.scope, customer_id)
        query = {key.field: value, **self._for_customer(customer_id)}
        sort = key.newest.mongo_sort()
        found = await self._lookup(kind, query, limit=1, sort=sort, index=key.index)
        return found[0] if found else None

    async def by_customer_key(
        self, kind: CustomerKeyKind, value: str, customer_id: str | None = None
    ) -> Doc | None:
        """An order by the customer's reference (PO number), an invoice by its printed
        number: the newest of the customer's matches (``BusinessKey``).

        A caller acting for several customers, whose matches belong to more than one of them,
        must say which customer (BAD_USER_INPUT): the newest of two customers' documents is
        an accident, not an answer. One customer's duplicates do not make the key ambiguous:
        after the newest match, one more read of at most one document (through the key's
        index) looks for a match of another customer.
        """
        found = await self._newest(kind, value, customer_id)
        if found is None or customer_id is not None or len(self.scope.customer_ids or ()) == 1:
            return found
        key = BUSINESS_KEYS[kind]
        others = {key.field: value, "customerId": {"$ne": found["customerId"]}}
        if await self._lookup(kind, others, limit=1, index=key.index):
            raise BadUserInput(f"{key.field}: {kind} of several customers match; pass customerId")
        return found

    async def shipment_by_tracking(
        self, tracking_number: str, customer_id: str | None = None
    ) -> Doc | None:
        """The shipment with this tracking number; the newest one if a carrier reused it
        (``BusinessKey``), whichever of the caller's customers it belongs to.

        Numbers match by their key (``search_keys.tracking_key``: without spaces and dashes,
        case-folded, the live feed's rule too): people type a number from a label that
        prints it in groups, in lower case on a phone, and a TMS may send it in groups or in
        mixed case. One read through the key's index (``TRACKING_KEY_LOOKUP``). A generation
        whose shipments do not all hold their key yet (no ``TRACKING_KEYS_MARKER``: written
        before session 22 and not filled) is read through the number's index for the forms
        of ``search_keys.tracking_number_forms`` (``$in``)."""
        keyed = await self._tracking_keyed()
        found = await self._tracked(tracking_number, customer_id, keyed=keyed)
        if keyed and found is not None and not _holds_key(found, tracking_number):
            # A key a projector of older code left behind when it renumbered the shipment
            # (against the upgrade order): not the number typed; the forms instead.
            found = await self._tracked(tracking_number, customer_id, keyed=False)
        return found

    async def _tracked(self, typed: str, customer_id: str | None, *, keyed: bool) -> Doc | None:
        lookup = tracking_lookup(typed, keyed=keyed)
        if lookup is None:
            return None
        key, value = lookup
        return await self._newest("shipments", value, customer_id, key)

    # --- connections -------------------------------------------------------------------

    async def _page(
        self,
        scope: Scope,
        kind: EntityKind,
        query: Mapping[str, Any],
        request: PageRequest,
        *,
        prime: bool,
        index: str | None = None,
    ) -> Page:
        """One page: ``size + 1`` visible documents from the position on, read in windows of
        the sort field (``resolvers.paging_windows``) when a width is known; through
        ``index`` instead, in plain sorted reads, when one is named."""
        read = _ListRead(scope, kind, query, request.reading_sort)
        if request.size == 0:  # pageInfo and count only: is one visible item ahead?
            found = await self._ahead(read, request, index)
            return build_page(request, found, self._counter(read))
        sort = read.sort
        position = await self._position(read, request, index)
        chunk = request.size + 1
        windowed = index is None
        windows, hint_key = await self._windows(read, position, request.size, index)
        given = Widths(None, None) if position is None or not windowed else position.widths()
        visible: list[Doc] = []
        read_docs: list[Doc] = []
        while True:
            raw = await self._read_windows(read, position, chunk, windows, index)
            read_docs.extend(raw)
            visible.extend(self._visible(scope, kind, raw))
            if len(visible) > request.size or len(raw) < chunk:
                break
            # on past the last document read, in windows of the widths the cursor gave
            position = replace(position_of(sort, raw[-1]), width=given.value, tie_width=given.ties)
            windows, _ = await self._windows(read, position, request.size, index)
        tied = given.ties is not None
        learned = learned_widths(sort, read_docs[:chunk], chunk, tied=tied) if windowed else None
        learned = learned or given
        # A first page that read the whole list (fewer documents than it asked for) teaches
        # nothing: the next one is a plain sorted read of a list shorter than a page, where
        # windows could only add round trips.
        if hint_key is not None and len(read_docs) > request.size:
            taught = first_hint(sort, read_docs[:chunk])
            if taught is not None:
                self._window_hints.put(hint_key, taught)
        if prime:
            self._prime(kind, visible)
        return build_page(request, visible[:chunk], self._counter(read), *learned)

    async def _ahead(self, read: _ListRead, request: PageRequest, index: str | None) -> list[Doc]:
        """The first visible document of ``read`` past the request's position (none:
        empty), for a page of no items (``first: 0``, ``last: 0``), read as ``_page`` reads
        a page (``_windows``).

        DocumentDB gathers every index entry a read's range holds before its limit applies,
        sorted or not: an unsorted read of one ``_id`` over the customer's whole list cost
        what the list holds (42-54 ms for 72,000 orders; 95-110 ms after the last cursor,
        where nothing lies ahead), a window about what a page holds. The one document read
        teaches no hint (it says nothing about how wide a page is); a new process's probes
        store the hint they find, as a first page's do. A document ``allows`` rejects (its
        summaries changed under the read) is no item: the read goes on past it, one sorted
        read of one document after another (rare, so not worth windows)."""
        position = await self._position(read, request, index)
        windows, _ = await self._windows(read, position, 0, index)
        while True:
            raw = await self._read_windows(read, position, 1, windows, index)
            visible = self._visible(read.scope, read.kind, raw)
            if visible or not raw:
                return visible
            position = position_of(read.sort, raw[-1])
            windows = None

    async def _position(
        self, read: _ListRead, request: PageRequest, index: str | None
    ) -> Position | None:
        """Where the page starts (None: at the start), with the window widths of its cursor
        bounded by the process's own hint for ``read`` (``paging_windows.bounded_widths``):
        the client sends a cursor back, and a width it left out or made up would otherwise
        have the page sort everything past the position. The hint is the one a first page
        reads with (``_first_page_hint``: a process that has none probes for it, once).
        Through ``index`` no window is read, so the cursor's widths are left as they are."""
        position = request.position()
        if position is None or index is not None:
            return position
        wanted = (request.size or DEFAULT_PAGE_SIZE) + 1
        hint = await self._first_page_hint(read, await self._hint_key(read), wanted)
        value, ties = bounded_widths(position.widths(), hint, wanted)
        return replace(position, width=value, tie_width=ties)

    async def _windows(
        self, read: _ListRead, position: Position | None, size: int, index: str | None
    ) -> tuple[list[Window] | None, Hashable | None]:
        """The windows a page of ``size`` items from ``position`` is read in (None: one plain
        sorted read, as through ``index``), and the key of the first-page hint they came
        from (None: none was read).

        Past a position, windows of the widths its cursor handed on (bounded: ``_position``);
        without one, windows from the first-page hint (``_first_page_hint``), as also past a
        position among the nulls where they sort first: the values all lie ahead of it, and
        one sorted read of them would sort the whole list. A page of no items probes for that
        hint as a page of the default size would: a hint found for a page of one would be
        too narrow for the pages after it."""
        if index is not None:
            return None, None
        if position is not None and (position.value is not None or read.sort.direction == -1):
            value, width, ties = position.value, position.width, position.tie_width
            after = windows_after(read.sort, value, width, start_id=position.id, tie_width=ties)
            return after, None
        key = await self._hint_key(read)
        hint = await self._first_page_hint(read, key, (size or DEFAULT_PAGE_SIZE) + 1)
        return first_page_windows(read.sort, hint, size + 1), key if position is None else None

    def _counter(self, read: _ListRead) -> Callable[[], Awaitable[int]]:
        """A page's ``count``: ``read``'s visible documents, counted only when asked."""

        async def count() -> int:
            return await self._until_closed(self._count(read.scope, read.kind, read.query))

        return count

    async def _read_windows(
        self,
        read: _ListRead,
        position: Position | None,
        limit: int,
        windows: Sequence[Window] | None,
        index: str | None = None,
    ) -> list[Doc]:
        """The first ``limit`` documents of ``read`` past ``position``, one window after
        another (the windows partition the order, so their answers concatenate in order)."""
        query = read.past(position)
        order = read.sort.mongo_sort()
        if windows is None:
            return await self._find(
                read.scope, read.kind, query, sort=order, limit=limit, index=index
            )
        found: list[Doc] = []
        for window in windows:
            found += await self._find(
                read.scope,
                read.kind,
                combine(query, window.mongo(read.sort)),
                sort=order,
                limit=limit - len(found),
            )
            if len(found) >= limit:
                break
        return found

    async def _first_page_hint(
        self, read: _ListRead, key: Hashable, wanted: int
    ) -> WindowHint | None:
        """The hint a first page of ``read`` reads with: its own, else the one the same
        caller's unfiltered list taught, else the one probes find for that list (and this
        process remembers). So a first page is read in windows rather than as one sort of the
        whole list, in a new process too. The unfiltered list is at least as dense as any
        filtered part of it, so a filter's windows are too narrow rather than too wide: a few
        more round trips (each window 4 times wider), never a wider sort."""
        hint = self._window_hints.get(key)
        if hint is not None:
            return hint
        whole = replace(read, query={})
        list_key = await self._hint_key(whole) if read.query else key
        hint = self._window_hints.get(list_key) if read.query else None
        # probes read through the customers' sort index; a scope that names no customer
        # (support, across customers) has none that bounds them: one plain read, as before
        probed = "customerId" in self._scope_filter(read.scope, read.kind)
        if hint is None and probed and self._window_hints.probe and await self._probes_pay():
            hint = await self._probed_hint(whole, wanted)
            self._window_hints.put(list_key, hint)
        return hint

    async def _probes_pay(self) -> bool:
        """Whether the server is one that needs probes (FerretDB: ``readmodel.server``),
        asked once per process. Not on MongoDB, which reads a sorted page in index order and
        stops at its limit: there a first page is one plain sorted read."""
        needs = self._window_hints.store_needs_probes
        if needs is None:
            try:
                needs = await is_ferretdb(self._db)
            except OperationFailure as exc:
                # a server that refuses ``buildInfo``: probes are right on any server
                log.warning("buildInfo refused (%s); cold first pages use probes", exc)
                needs = True
            except PyMongoError as exc:
                raise StoreUnavailable("the data store is unavailable; retry shortly") from exc
            self._window_hints.store_needs_probes = needs
        return needs

    async def _probed_hint(self, whole: _ListRead, wanted: int) -> WindowHint:
        """The hint the caller's unfiltered list ``whole`` would teach, found by probes
        through its sort index (``paging_windows.EdgeSearch``): unsorted reads of sort values
        and ids only (the ids size a window inside a value many share), each bounded by a
        range of the sort field, instead of one read that sorts the list."""
        sort = whole.sort
        search = EdgeSearch(sort, wanted, now_point(sort, self._clock()))
        projection = {sort.field: True, "_id": True}
        index = sort_index(whole.kind, sort.field)
        while isinstance(step := search.next_probe(), Window):
            found = await self._find(
                whole.scope,
                whole.kind,
                step.mongo(sort),
                projection=projection,
                limit=search.limit,
                index=index,
            )
            search.learn([read_path(doc, sort.field) for doc in found], [d["_id"] for d in found])
        return step

    async def _hint_key(self, read: _ListRead) -> Hashable:
        """What a first page's window hint is remembered under: the generation's collection,
        the whole query as the store sees it (scope included) and the reading order.

        The scope filter comes first, as in ``_find``: a refused read (invoices without an
        invoice role) must not count as read, or its response would report their sources'
        freshness (``kinds_read``) beside a FORBIDDEN and no data."""
        scoped = combine(read.query, self._scope_filter(read.scope, read.kind))
        collection = await self._collection(read.kind)
        return (
            collection.full_name,
            read.sort.name,
            read.sort.direction,
            orjson.dumps(
                scoped, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
            ),
        )

    async def orders(self, filters: OrderFilter, page: PageRequest) -> Page:
        scope = self._naming(self.scope, filters.customer_id)
        return await self._page(scope, "orders", filters.mongo(), page, prime=True)

    async def shipments(self, filters: ShipmentFilter, page: PageRequest) -> Page:
        scope = self._naming(self.scope, filters.customer_id)
        return await self._page(scope, "shipments", filters.mongo(), page, prime=True)

    async def invoices(self, filters: InvoiceFilter, page: PageRequest) -> Page:
        scope = self._naming(self.scope, filters.customer_id)
        today = self._clock().astimezone(UTC).date()
        return await self._page(scope, "invoices", filters.mongo(today), page, prime=True)

    # --- search ------------------------------------------------------------------------

    async def search_shipments(
        self,
        search: ShipmentSearch,
        page: PageRequest,
        *,
        cross_customer: bool = False,
        audit: AuditRequest | None = None,
    ) -> Page:
        """Shipments whose id, tracking number, order ids, destination city, or whose orders'
        customer reference or ship-to name contain ``search.text`` (case-insensitive).

        Through the search side collection where it can answer (``_matches_by_keys``): the
        matching shipments' ids under the caller's scope, then a page of those shipments
        read by id. Otherwise by the pattern over the entities (``_pattern_query``).

        ``cross_customer`` (support staff only, else FORBIDDEN) searches every customer and
        records what it answered (``AuditEntry``): the page (the customers whose shipments
        were returned, and whether more matches lie beyond it), and, when ``totalCount`` is
        asked, the count with the customers counted. Each entry is written before its answer
        is returned, and a failed write fails the search.
        Results of a cross-customer search are not cached for the rest of the request:
        related entities of these shipments are still read under the caller's own scope.
        """
        scope = self._naming(
            self._scope_for(cross_customer=True) if cross_customer else self.scope,
            search.customer_id,
        )
        prime = not cross_customer
        request = audit or AuditRequest(
            operation="searchShipments", query=search.text, variables={"text": search.text}
        )
        try:
            matched = await self._matches_by_keys(scope, search)
            query = search.among(matched) if matched is not None else None
            if query is None:
                query = await self._pattern_query(scope, search)
        except BadUserInput:
            if cross_customer:  # "more than 500 orders match": learned across customers
                await self._audit.record(self._audit_entry(scope, request, "refused", ()))
            raise
        index = ID_INDEX if matched is not None else None
        result = await self._page(scope, "shipments", query, page, prime=prime, index=index)
        if cross_customer:
            await self._record_cross_customer_page(scope, request, result, page.backward)
            return replace(result, count=self._audited_count(scope, query, request))
        return result

    async def _matches_by_keys(self, scope: Scope, search: ShipmentSearch) -> list[str] | None:
        """The ids of the shipments ``search`` matches, from the search documents
        (``readmodel.search_keys``) under the caller's scope filter; None when those cannot
        answer: a text shorter than a key, a generation whose search documents are not
        filled yet, or more than ``SEARCH_BY_ID_LIMIT`` matches.

        Index lookups: the orders and the shipments whose own values match, at once (per
        form of the text: ``ShipmentSearch.keys``), then the shipments of those orders
        (which match too), if any. A shipment's
        warehouse rule is not in its search document's filter (``Scope.search_keys_filter``):
        the page read by id applies it.
        """
        keys = search.keys()
        if keys is None:
            return None
        collection = await self._search_collection()
        if collection is None:
            return None
        limit = SEARCH_BY_ID_LIMIT + 1
        found = await asyncio.gather(
            *(
                self._search_ids(collection, scope, "orders", query, SEARCH_ORDER_MATCHES + 1)
                for query in map(search.order_keys_filter, keys)
            ),
            *(
                self._search_ids(collection, scope, "shipments", query, limit)
                for query in map(search.shipment_keys_filter, keys)
            ),
        )
        orders = _within_order_matches(search, chain.from_iterable(found[: len(keys)]))
        own = list(chain.from_iterable(found[len(keys) :]))
        of_orders = []
        if orders:
            query = search.shipments_of_orders_filter(orders)
            of_orders = await self._search_ids(collection, scope, "shipments", query, limit)
        shipments = list(dict.fromkeys([*own, *of_orders]))
        return shipments if len(shipments) <= SEARCH_BY_ID_LIMIT else None

    async def _tracking_keyed(self) -> bool:
        """Whether this request's generation's shipments all hold their tracking key, and
        its index exists (``search_keys.TRACKING_KEYS_MARKER``)."""
        marker = {"_id": TRACKING_KEYS_MARKER}
        return await self._marked(marker, _TRACKING_KEYED_COLLECTIONS) is not None

    async def _search_collection(self) -> AsyncCollection[Doc] | None:
        """The search side collection of this request's generation, if it is filled with
        keys of today's form (``search_keys.KEYS_FORMAT``; older ones wait for a rebuild)."""
        marker = {"_id": COMPLETE_MARKER, KEYS_FORMAT_FIELD: KEYS_FORMAT}
        return await self._marked(marker, _FILLED_SEARCH_COLLECTIONS)

    async def _marked(
        self, marker: Mapping[str, Any], seen: set[str]
    ) -> AsyncCollection[Doc] | None:
        """The search side collection of this request's generation if it holds ``marker``
        (a generation's markers live there), read once per process: a marker is never
        removed, so ``seen`` keeps the collections found to hold it."""
        await self._collection("shipments")  # resolves the generation
        assert self._generation is not None
        collection = self._db[self._generation.search_keys()]
        if collection.full_name not in seen:
            try:
                found = await collection.find_one(marker, {"_id": True})
            except PyMongoError as exc:
                raise StoreUnavailable("the data store is unavailable; retry shortly") from exc
            if found is None:
                return None
            seen.add(collection.full_name)
        return collection

    async def _search_ids(
        self,
        collection: AsyncCollection[Doc],
        scope: Scope,
        kind: EntityKind,
        query: Mapping[str, Any],
        limit: int,
    ) -> list[str]:
        """Entity ids of the search documents matching ``query`` AND ``kind``'s scope filter
        (the search documents carry the fields it reads)."""
        self.kinds_read.add(kind)
        scoped = combine(query, self._scope_filter(scope, kind, search_keys=True))
        try:
            found = await collection.find(
                scoped, {"entityId": True}, limit=limit, max_time_ms=self._max_time_ms
            ).to_list()
        except PyMongoError as exc:
            raise store_failed(exc, self._max_time_ms) from exc
        return [str(doc["entityId"]) for doc in found]

    async def _pattern_query(self, scope: Scope, search: ShipmentSearch) -> dict[str, Any]:
        """The shipments query of a search by the pattern, which no index serves: matching
        orders (ids only) first, evaluated over the documents the scope's ``customerId``
        equality narrows to."""
        order_query = combine(search.order_filter(), self._for_customer(search.customer_id))
        raw_orders = await self._find(
            scope, "orders", order_query, projection={"_id": True}, limit=SEARCH_ORDER_MATCHES + 1
        )
        order_ids = _within_order_matches(search, (str(doc["_id"]) for doc in raw_orders))
        return search.shipment_filter(order_ids)

    def _audit_entry(
        self,
        scope: Scope,
        request: AuditRequest,
        answered: Literal["page", "count", "refused"],
        customers: Iterable[object],
    ) -> AuditEntry:
        return {
            "at": self._clock(),
            "subject": scope.caller.subject,
            "roles": sorted(scope.caller.roles),
            "operation": request.operation,
            "query": request.query,
            "variables": dict(request.variables),
            "answered": answered,
            "customerIds": sorted({c for c in customers if isinstance(c, str)}),
        }

    async def _record_cross_customer_page(
        self, scope: Scope, request: AuditRequest, result: Page, backward: bool
    ) -> None:
        """The page's entry: the customers of its items, and whether it said more lie
        beyond it (``hasNextPage``; backwards ``hasPreviousPage``)."""
        customers = (edge.node.get("customerId") for edge in result.edges)
        entry = self._audit_entry(scope, request, "page", customers)
        info = result.page_info
        entry["more"] = info.has_previous_page if backward else info.has_next_page
        await self._audit.record(entry)

    def _audited_count(
        self, scope: Scope, query: Mapping[str, Any], request: AuditRequest
    ) -> Callable[[], Awaitable[int]]:
        """A cross-customer page's ``count``: counted per customer (one ``$group``, about
        what a count of a search costs), recorded with its value and the customers counted
        before it is returned."""

        async def count() -> int:
            counted = await self._until_closed(self._count_by_customer(scope, "shipments", query))
            entry = self._audit_entry(scope, request, "count", counted)
            entry["count"] = total = sum(counted.values())
            await self._audit.record(entry)
            return total

        return count

    async def _count_by_customer(
        self, scope: Scope, kind: EntityKind, query: Mapping[str, Any]
    ) -> dict[str, int]:
        """``_count`` of ``query``'s visible documents, by customer."""
        scoped = combine(query, self._scope_filter(scope, kind))
        collection = await self._collection(kind)
        group = {"$group": {"_id": "$customerId", "n": {"$sum": 1}}}
        pipeline = [{"$match": scoped}, group]
        try:
            grouped = await collection.aggregate(pipeline, maxTimeMS=self._max_time_ms)
            rows = await grouped.to_list()
        except PyMongoError as exc:
            raise store_failed(exc, self._max_time_ms) from exc
        # a known document always names its customer; a null group would name none
        return {str(row["_id"]): int(row["n"]) for row in rows if row["_id"] is not None}

    # --- relations ---------------------------------------------------------------------

    async def related(
        self, parent: Mapping[str, Any], kind: EntityKind, *, parent_kind: EntityKind
    ) -> list[RelatedEntity]:
        """The ``kind`` entities ``parent`` (a ``parent_kind`` document) is linked to that
        the caller may see, by id.

        Links come from the summaries embedded in the parent and from the ids the parent
        names itself. Entities a summary cannot vouch for are loaded (batched across the
        whole request) and dropped when the caller's scope does not allow them. A parent
        overflowing with such links is read the complete way (``_related_overflowing``).
        """
        links = self._links(parent, kind)
        if links.overflowing:
            return await self._related_overflowing(parent_kind, parent, links)
        pending = [i for i in links.ids if i not in links.proven]
        loaded = dict(zip(pending, await self.loader(kind).load_many(pending), strict=True))
        return links.visible(loaded)

    def related_at_hand(
        self, parent: Mapping[str, Any], kind: EntityKind
    ) -> list[RelatedEntity] | None:
        """``related`` without waiting, when the parent's summaries prove every link visible;
        None when some entity must be loaded first (then await ``related``).

        Most pages are answered this way: a resolver that need not await saves graphql-core
        the cost of an awaited field for every item of the page.
        """
        links = self._links(parent, kind)
        if links.overflowing or any(i not in links.proven for i in links.ids):
            return None
        return links.visible({})

    async def _related_overflowing(
        self, parent_kind: EntityKind, parent: Mapping[str, Any], links: _Links
    ) -> list[RelatedEntity]:
        """The links of a parent that embeds summaries of only some of them
        (``links.overflowing``): the ``kind`` documents naming it (``_naming_loader``: one
        read for the overflowing parents of the moment), and those it names or summarises,
        loaded by id. Each is answered from its document, not from a summary the parent
        holds: one that had no room may be newer than it."""
        kind = links.kind
        naming: list[Doc] = []
        if stored_links.naming_field(parent_kind, kind) is not None:
            naming = await self._naming_loader(parent_kind, kind).load(str(parent.get("_id")))
        docs = {str(doc["_id"]): doc for doc in naming}
        rest = [entity_id for entity_id in links.ids if entity_id not in docs]
        for entity_id, doc in zip(rest, await self.loader(kind).load_many(rest), strict=True):
            if doc is not None:
                docs[entity_id] = doc
        return [RelatedEntity(kind, entity_id, {}, docs[entity_id]) for entity_id in sorted(docs)]

    def _naming_loader(
        self, holder_kind: EntityKind, kind: EntityKind
    ) -> DataLoader[str, list[Doc]]:
        """The request's DataLoader of the visible ``kind`` documents naming a
        ``holder_kind`` document (``links.naming_field``), by its id: the overflowing holders asked
        for in one tick of the event loop (a page's, a nesting level's) are one read, so
        round trips follow the shape of the query, not the number of holders."""
        loader = self._naming_loaders.get((holder_kind, kind))
        if loader is None:

            async def load(holder_ids: list[str]) -> list[list[Doc]]:
                return await self._naming_documents(holder_kind, kind, holder_ids)

            loader = DataLoader(load_fn=load, loop=asyncio.get_running_loop())
            self._naming_loaders[(holder_kind, kind)] = loader
        return loader

    async def _naming_documents(
        self, holder_kind: EntityKind, kind: EntityKind, holder_ids: list[str]
    ) -> list[list[Doc]]:
        """For each of ``holder_ids``, the visible ``kind`` documents naming it: one read
        under the caller's scope through the field's own index (DocumentDB's
        planner might otherwise serve it from a customer's index, the scope filter naming
        the customer), each document kept for the request's by-id loads too."""
        scope, field = self.scope, stored_links.naming_field(holder_kind, kind)
        assert field is not None, "only a holder named by a field is read by it"
        query = stored_links.naming_query(field, holder_ids)
        found = await self._find(scope, kind, query, index=field_index(kind, field))
        holders = {doc["_id"]: stored_links.named_ids(doc, holder_kind) for doc in found}
        visible = self._visible(scope, kind, found)
        self._prime(kind, visible)
        by_holder: dict[str, list[Doc]] = {holder_id: [] for holder_id in holder_ids}
        for doc in visible:
            for holder_id in holders[doc["_id"]]:
                if holder_id in by_holder:
                    by_holder[holder_id].append(doc)
        return [by_holder[holder_id] for holder_id in holder_ids]

    def _links(self, parent: Mapping[str, Any], kind: EntityKind) -> _Links:
        scope = self.scope
        if kind == "invoices" and not scope.can_read_invoices:
            raise Forbidden("your roles do not allow reading invoices")
        summaries = stored_links.summaries(parent, kind)
        ids = sorted(set(summaries) | set(stored_links.named_ids(parent, kind)))
        self.kinds_read.add(kind)
        proven = {i for i in ids if summary_proves_visible(scope, kind, i, summaries.get(i))}
        return _Links(kind, ids, summaries, proven, stored_links.overflowing(parent, kind))

    # --- freshness ---------------------------------------------------------------------

    async def sources(self) -> list[SourceFreshness]:
        """Freshness of every upstream source the projector has seen, by source name."""
        scope = self.scope
        docs = await self._find(scope, "sources", {}, sort=[("_id", 1)])
        now = self._clock()
        return [
            source_freshness(doc, now=now, stale_after=self._stale_after)
            for doc in docs
            if scope.allows("sources", doc)
        ]


def _holds_key(shipment: Mapping[str, Any], typed: str) -> bool:
    """Whether ``shipment``'s own number has ``typed``'s tracking key (its stored key may be
    one an older projector left behind)."""
    stored = shipment.get("trackingNumber")
    return isinstance(stored, str) and tracking_key(stored) == tracking_key(typed)
