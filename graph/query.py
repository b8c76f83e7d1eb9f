"""The Query root: lookups, lists, search, freshness, the caller and the live feed's cursor.

Every root field is nullable, so that a field refused (FORBIDDEN, UNAUTHENTICATED) or failed
leaves its siblings' data in place instead of nulling the whole response.

Not-found and not-yours read the same: a lookup of an id, reference or number the caller may
not see returns null, so one customer cannot probe another's identifiers.

How the fields shared by orders, shipments and invoices are built: ``order``, ``shipment``
and ``invoice`` are one field each made by ``_by_id_field``; ``orderByReference`` and
``invoiceByNumber`` by ``_by_key_field``; ``orders``, ``shipments`` and ``invoices`` by
``_list_field``. Each factory writes its resolver once, for any of the three entities, and
hands it to ``_root_field`` with the GraphQL types that differ per entity (the node type, the
filter input, the sort enum, an argument's name or description) as values: Strawberry reads a
field's types from its resolver's annotations, and a resolver written once for three entities
can only annotate with a type variable (``_E``), which has no GraphQL type. Written out by
hand, these would be eight near-identical methods. ``graph/schema.graphql`` shows every field
as clients see it (tests/unit/test_schema_file.py keeps it current).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError, print_ast
from strawberry.types.arguments import StrawberryArgumentAnnotation

from graph.common import field_resolver
from graph.connections import Connection
from graph.context import Info, readers_of
from graph.entities import Invoice, Order, Shipment
from graph.enums import InvoiceSort, OrderSort, ShipmentSort, ShipmentStatus, names_of
from graph.freshness import SourceFreshness
from graph.global_ids import decode, lookup_number
from graph.inputs import (
    FilterInput,
    InvoiceFilterInput,
    OrderFilterInput,
    ShipmentFilterInput,
    TimeRangeInput,
    to_filter,
)
from graph.item_refusals import refused_or
from graph.live_cursor import DESCRIPTION as LIVE_CURSOR_DESCRIPTION
from graph.live_cursor import resume_cursor
from graph.node import Node
from graph.subgraph import Service, service
from graph.viewer import Viewer
from readmodel.quoting import ECHOED_CHARACTERS, quoted
from resolvers.audit import AuditRequest
from resolvers.errors import BadUserInput
from resolvers.filters import InvoiceFilter, OrderFilter, ShipmentFilter, ShipmentSearch
from resolvers.paging import (
    DEFAULT_PAGE_SIZE,
    INVOICE_SORTS,
    MAX_PAGE_SIZE,
    ORDER_SORTS,
    SHIPMENT_SORTS,
    Page,
    PageRequest,
    SortSpec,
)
from resolvers.readers import CustomerKeyKind, Readers

_FIRST = strawberry.argument(
    description=(
        f"How many items to return, 0 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}); with "
        "0, no items: only `totalCount` and `pageInfo`."
    )
)
_AFTER = strawberry.argument(
    description="Return the items after this cursor (`pageInfo.endCursor` of the previous page)."
)
_LAST = strawberry.argument(
    description=(
        f"Page backwards: how many items to return from the end (or from `before`), 0 to "
        f"{MAX_PAGE_SIZE}. Not together with `first`."
    )
)
_BEFORE = strawberry.argument(
    description=(
        "Return the items before this cursor (`pageInfo.startCursor` of the page after), "
        "with `last`."
    )
)
_CONDITIONS = strawberry.argument(description="Conditions to match.")
_SORT = strawberry.argument(description="The order of the list.")
_CUSTOMER = strawberry.argument(
    description=(
        "The customer account, when you act for several and the key is ambiguous: one of "
        "yours, FORBIDDEN otherwise."
    )
)

First = Annotated[int | None, _FIRST]
After = Annotated[str | None, _AFTER]
Last = Annotated[int | None, _LAST]
Before = Annotated[str | None, _BEFORE]
CustomerId = Annotated[str | None, _CUSTOMER]

_ID_ARGUMENT = (
    "The {0}'s global id (`id`), or its number (`{0}Id`): both name the same {0}. "
    "The global id of another type is refused (BAD_USER_INPUT)."
)


def _plain(value: Any) -> Any:
    """GraphQL variable values as plain data the audit log can store (enums by name: the
    stored string)."""
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime) or value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _audit_request(info: Info) -> AuditRequest:
    """The operation being executed, as the audit log records it."""
    operation = info.operation
    fragments = info._raw_info.fragments  # only graphql-core's info has the fragments
    text = "\n\n".join([print_ast(operation), *(print_ast(f) for f in fragments.values())])
    name = operation.name.value if operation.name else "anonymous"
    return AuditRequest(operation=name, query=text, variables=_plain(info.variable_values))


#: How many ids one ``nodes`` call may name (a page's worth, like ``first``).
MAX_NODES = MAX_PAGE_SIZE

_NODE_TYPES: dict[str, type[Order] | type[Shipment] | type[Invoice]] = {
    "orders": Order,
    "shipments": Shipment,
    "invoices": Invoice,
}


async def _nodes(info: Info, ids: list[str]) -> list[Any]:
    """The visible entities the global ids name; the request's DataLoaders batch them into
    one query per type. A value that is not a global id we issue is refused at its index,
    naming it (a plain order number belongs in ``order(id:)``), and so is an id of a kind
    the caller's roles do not cover (``graph.item_refusals``); the others are answered.
    Each item: the node, None, or the refusal graphql-core reports at its index."""
    if len(ids) > MAX_NODES:
        raise GraphQLError(
            f"nodes takes at most {MAX_NODES} ids, got {len(ids)}.",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return list(await asyncio.gather(*(refused_or(_node(info, value)) for value in ids)))


async def _node(info: Info, value: str) -> Node | None:
    """The visible entity a global id names; ``BadUserInput`` for a value that is not one."""
    global_id = decode(value)
    if global_id is None:
        raise BadUserInput(
            f"{quoted(value, ECHOED_CHARACTERS)} is not a global id: pass an object's `id` "
            "(order, shipment and invoice numbers go to order(id:), shipment(id:) and "
            "invoice(id:))."
        )
    doc = await readers_of(info).load(global_id.kind, global_id.number)
    return _NODE_TYPES[global_id.kind].of(doc) if doc else None


_E = TypeVar("_E", Order, Shipment, Invoice)


def _root_field(
    resolve: Callable[..., Awaitable[Any]],
    description: str,
    *,
    arguments: Mapping[str, Any],
    returns: str,
) -> Any:
    """The ``Query`` field answered by ``resolve``, a resolver written once for any entity,
    with the GraphQL types it has for one entity.

    Strawberry builds a field's arguments from its resolver's parameters, each typed by the
    parameter's annotation, and the field's type from the return annotation; in this module
    (``from __future__ import annotations``) every annotation is a string that Strawberry
    evaluates here when the schema is built. ``resolve``'s own annotations name ``_E`` and
    other type variables, which serve mypy but have no GraphQL type, so they are replaced
    before Strawberry reads them: ``arguments`` maps a parameter's name to its type for this
    entity, ``Annotated`` with the ``strawberry.argument`` that gives its description (and
    its GraphQL name where the parameter's would not do), and ``returns`` names the field's
    type as an annotation here would (``"Order | None"``: a name, like the relations' types
    in ``graph.entities``).
    Typed ``Any`` as ``strawberry.field`` is: the field's type is Strawberry's to check.
    """
    resolve.__annotations__ |= {**arguments, "return": returns}
    return strawberry.field(resolver=resolve, description=description)


def _by_id_field(entity: type[_E], description: str) -> Any:
    """``order(id:)``, ``shipment(id:)``, ``invoice(id:)``: the entity a global id or a plain
    number names, through the request's DataLoader; None when absent or not the caller's.
    The ``id`` argument's description names the entity."""
    noun = entity.__name__.lower()

    async def resolve(self: Query, info: Info, id: strawberry.ID) -> _E | None:
        (found,) = await entity.resolve_ids(info, [lookup_number(entity.KIND, str(id))])
        return found

    id_argument = strawberry.argument(description=_ID_ARGUMENT.format(noun))
    return _root_field(
        resolve,
        description,
        arguments={"id": Annotated[strawberry.ID, id_argument]},
        returns=f"{entity.__name__} | None",
    )


def _by_key_field(
    kind: CustomerKeyKind, entity: type[_E], key: StrawberryArgumentAnnotation, description: str
) -> Any:
    """``orderByReference``, ``invoiceByNumber``: the newest entity whose business key (not
    unique, even per customer: ``Readers.by_customer_key``) is the ``key`` argument; None when
    none of the caller's has it. ``key`` gives the argument its GraphQL name
    (``customerReference``, ``invoiceNumber``) and description."""

    async def resolve(
        self: Query, info: Info, key: str, customer_id: CustomerId = None
    ) -> _E | None:
        doc = await readers_of(info).by_customer_key(kind, key, customer_id)
        return entity.of(doc) if doc else None

    return _root_field(
        resolve,
        description,
        arguments={"key": Annotated[str, key]},
        returns=f"{entity.__name__} | None",
    )


_F = TypeVar("_F", OrderFilter, ShipmentFilter, InvoiceFilter)
_S = TypeVar("_S", bound=Enum)


@dataclass(frozen=True)
class _Listing(Generic[_E, _F, _S]):
    """What tells one root list field (``orders``, ``shipments``, ``invoices``) from another;
    ``_list_field`` is the rest, the same for each.

    The filter input names the readers' filter (``FilterInput.filter_type``) that ``read``
    takes, and ``sorts`` has a ``SortSpec`` for each member of ``default_sort``'s enum by its
    name (tests/unit/test_graph_listings.py)."""

    entity: type[_E]
    conditions: type[FilterInput[_F]]
    default_sort: _S
    sorts: Mapping[str, SortSpec]
    read: Callable[[Readers, _F, PageRequest], Awaitable[Page]]


_ORDERS = _Listing(Order, OrderFilterInput, OrderSort.ORDERED_AT_DESC, ORDER_SORTS, Readers.orders)
_SHIPMENTS = _Listing(
    Shipment,
    ShipmentFilterInput,
    ShipmentSort.PLANNED_PICKUP_AT_DESC,
    SHIPMENT_SORTS,
    Readers.shipments,
)
_INVOICES = _Listing(
    Invoice, InvoiceFilterInput, InvoiceSort.ISSUED_AT_DESC, INVOICE_SORTS, Readers.invoices
)


def _list_field(listing: _Listing[_E, _F, _S], description: str) -> Any:
    """A root list field: ``filter``, ``sort`` and the Relay paging arguments, answered with one
    page of the caller's entities (a ``Connection``). The filter input and the sort enum are
    the listing's; the paging arguments are the same for every list."""

    async def resolve(
        self: Query,
        info: Info,
        filter: FilterInput[_F] | None = None,
        sort: _S = listing.default_sort,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[_E] | None:
        page = PageRequest(listing.sorts[sort.name], first, after, last, before)
        filters = to_filter(filter, listing.conditions.filter_type())
        return Connection.of(await listing.read(readers_of(info), filters, page), listing.entity.of)

    return _root_field(
        resolve,
        description,
        arguments={
            "filter": Annotated[listing.conditions | None, _CONDITIONS],
            "sort": Annotated[type(listing.default_sort), _SORT],
        },
        returns=f"Connection[{listing.entity.__name__}] | None",
    )


@strawberry.type(
    description=(
        "Read the orders, shipments and invoices of your customer accounts. Every response "
        "that read them carries `extensions.freshness`: `asOf` (when the service last read "
        "source freshness, at most a few seconds ago) and `sources`, one entry per upstream "
        "source whose data the response may hold, with `source`, `lastAppliedAt`, `stale` and "
        "the declared `status` (plus `message` and `expectedBackAt` when it is not "
        "AVAILABLE): show 'invoices as of 08:00, ERP in maintenance until 12:00' without "
        "asking `dataFreshness`."
    )
)
class Query:
    # --- orders --------------------------------------------------------------------------

    order = _by_id_field(Order, "One order by id; null if it does not exist or is not yours.")

    order_by_reference = _by_key_field(
        "orders",
        Order,
        strawberry.argument(name="customerReference", description="Your reference for the order."),
        (
            "One order by your reference (PO number); null if none of yours has it. Several "
            "orders may carry one reference (a PO split over several orders): the newest "
            "(latest orderedAt, then greatest orderId) is returned. If they belong to more "
            "than one of your customer accounts, pass customerId (BAD_USER_INPUT otherwise)."
        ),
    )

    orders = _list_field(_ORDERS, "Your orders, filtered and sorted, a page at a time.")

    # --- shipments -----------------------------------------------------------------------

    shipment = _by_id_field(
        Shipment, "One shipment by id; null if it does not exist or is not yours."
    )

    @field_resolver(
        "One shipment by the carrier's whole tracking number, compared without spaces and "
        "dashes and in any case on both sides (9600 0005 19 finds 9600000519, PRO555 finds "
        "PRO-555, 1ZAB finds 1Zab); the newest if a carrier reused it. Null if none of yours "
        "has it."
    )
    async def shipment_by_tracking_number(
        self,
        info: Info,
        tracking_number: Annotated[
            str, strawberry.argument(description="The carrier's tracking number.")
        ],
        customer_id: CustomerId = None,
    ) -> Shipment | None:
        doc = await readers_of(info).shipment_by_tracking(tracking_number, customer_id)
        return Shipment.of(doc) if doc else None

    shipments = _list_field(_SHIPMENTS, "Your shipments, filtered and sorted, a page at a time.")

    @field_resolver(
        "Find shipments by part of a tracking number, shipment or order id, your order "
        "reference, the consignee's name or the destination city, ignoring case, accents, "
        "spaces and dashes on both sides (9600 0005 19 finds 9600000519, PO10045 finds "
        "PO-10045, istanbul finds İstanbul). BAD_USER_INPUT when more than 500 orders match "
        "the text: search for a longer one. Support staff may set crossCustomer to search "
        "every customer; such searches are recorded in the audit log."
    )
    async def search_shipments(
        self,
        info: Info,
        text: Annotated[
            str,
            strawberry.argument(
                description=(
                    "What to look for: at most 100 characters; at least 2 once spaces, "
                    "dashes and accents are left out and case is folded (ß counts as ss)."
                )
            ),
        ],
        statuses: Annotated[
            list[ShipmentStatus] | None,
            strawberry.argument(description="Only shipments in one of these statuses."),
        ] = None,
        planned_pickup_at: Annotated[
            TimeRangeInput | None,
            strawberry.argument(description="Only shipments planned for pick-up in this window."),
        ] = None,
        customer_id: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "Only this customer account: one of yours (FORBIDDEN otherwise), or any "
                    "with crossCustomer."
                )
            ),
        ] = None,
        cross_customer: Annotated[
            bool,
            strawberry.argument(description="Search every customer (support staff only; audited)."),
        ] = False,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Shipment] | None:
        search = ShipmentSearch(
            text=text,
            statuses=names_of(statuses),
            planned_pickup=planned_pickup_at.to_range() if planned_pickup_at else None,
            customer_id=customer_id,
        )
        page = PageRequest(
            SHIPMENT_SORTS[ShipmentSort.PLANNED_PICKUP_AT_DESC.name], first, after, last, before
        )
        result = await readers_of(info).search_shipments(
            search,
            page,
            cross_customer=cross_customer,
            audit=_audit_request(info) if cross_customer else None,
        )
        return Connection.of(result, Shipment.of)

    # --- invoices ------------------------------------------------------------------------

    invoice = _by_id_field(
        Invoice,
        (
            "One invoice by id; null if it does not exist or is not yours. FORBIDDEN unless "
            "your roles include reading invoices."
        ),
    )

    invoice_by_number = _by_key_field(
        "invoices",
        Invoice,
        strawberry.argument(name="invoiceNumber", description="The number printed on the invoice."),
        (
            "One invoice by its number; null if none of yours has it. If several invoices "
            "carry the number, the newest (latest issuedAt, then greatest invoiceId) is "
            "returned; if they belong to more than one of your customer accounts, pass "
            "customerId (BAD_USER_INPUT otherwise). FORBIDDEN as above."
        ),
    )

    invoices = _list_field(
        _INVOICES,
        "Your invoices, filtered and sorted, a page at a time. FORBIDDEN unless your roles "
        "include reading invoices.",
    )

    # --- any entity by global id (Relay) ---------------------------------------------------

    @field_resolver(
        "Refetch an order, shipment or invoice by its global `id` (Relay's Global Object "
        "Identification); null if it does not exist or is not yours. FORBIDDEN for an "
        "invoice unless your roles include reading invoices."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="A global id, as `Node.id` gives it.")
        ],
    ) -> Node | None:
        return await _node(info, str(id))

    @field_resolver(
        "Refetch several objects by global id, in the order asked; null for each that does "
        "not exist or is not yours (one query per type)."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"Global ids, at most {MAX_NODES}."),
        ],
    ) -> list[Node | None]:
        return await _nodes(info, [str(i) for i in ids])

    # --- about the data and the caller ---------------------------------------------------

    @field_resolver(
        "How current the data of each upstream system is, including maintenance windows "
        "they announced. Show a warning when a source is stale or not AVAILABLE."
    )
    async def data_freshness(self, info: Info) -> list[SourceFreshness] | None:
        return [SourceFreshness.of(s) for s in await readers_of(info).sources()]

    @field_resolver("Who you are and what your roles allow.")
    def viewer(self, info: Info) -> Viewer | None:
        return Viewer.of(readers_of(info).scope)

    @field_resolver(LIVE_CURSOR_DESCRIPTION)
    def live_cursor(self, info: Info) -> str | None:
        # Answered at once, without I/O: listed first, it is taken before any read starts.
        return resume_cursor(info)

    # --- federation ----------------------------------------------------------------------

    #: Strawberry's ``_service``, unless the query declares its own: this one's SDL leaves
    #: out ``node`` and ``nodes`` (``graph.subgraph``).
    service: Service = strawberry.field(name="_service", resolver=service)
