"""The stored shape of every projection: the contract between the writer and the readers.

`projections/` is the only code that writes these documents; `resolvers/` is the only code
that queries them (``entitlements/`` judges the documents the readers fetch). Both sides
import the names below, so a field is renamed in one place; ``links`` parses the links
between documents for all of them.

Why the documents look like this
--------------------------------
* One lookup per portal screen. An order carries summaries of its shipments and invoices; a
  shipment carries summaries of its orders and invoices; an invoice carries summaries of its
  orders and shipments. They live under ``related.<kind>.<id>``, at most
  ``MAX_RELATED_SUMMARIES`` and ``RELATED_KIND_BYTES`` per kind (beyond, the document is
  marked ``RELATED_OVERFLOW`` and its links of that kind are read from the documents naming
  it).
* Hot reads are ``_id`` or top-level scalar equality (``trackingKey``, ``customerReference``,
  ``invoiceNumber``, ``customerId``), each served by an index of ``INDEXES``; a customer's
  sorted pages are read in the order of a ``(customerId, <sort field>, _id)`` index
  (``tests/integration/test_query_plans.py`` checks every one with ``explain``).
* Several writers touch one document, each owning disjoint fields, so no writer needs to
  replace a whole document:

  - orders: the ERP topic owns the header fields and ``cancellation``/``cancelled``; the WMS
    topic owns ``fulfillment`` and ``fulfillmentStage``;
  - ``related.<kind>.<id>`` is owned by the projector of entity ``<id>`` and is written only
    if its ``rev`` is newer than the one stored (see ``RelatedSummary``);
  - ``rev``, ``updatedAt`` and ``lastEvent`` are written by every writer: ``rev`` with ``$inc``;
  - ``warehouseIds`` (shipments, invoices) is derived from ``orderIds``, the lines and the
    order summaries, by every writer that changes one of them (``WAREHOUSE_IDS``).

* Bookkeeping needed for exactness under redelivery and disorder lives in top-level fields
  whose names start with ``_`` and name their owner (``_orderState``, ``_fulfillmentState``,
  ``_shipmentState``, ``_invoiceState``, ``_sourceState``). It is not part of the API.
* The projector writes a document as ``$set`` of the top-level fields a reducer changed, so
  writers that own different fields never overwrite each other.

Map keys
--------
MongoDB field names cannot contain ``.`` or start with ``$``. Entity ids used as map keys
are passed through ``field_key``; the original id is always stored inside the value too.

Times are timezone-aware ``datetime`` values in UTC when stored (PyMongo stores BSON dates);
calendar dates (``requestedDeliveryDate``, ``dueDate``) are ISO ``YYYY-MM-DD`` strings;
amounts are decimal strings, never floats.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final, Literal, NotRequired, TypedDict

# --- collections --------------------------------------------------------------------------

ORDERS: Final = "orders"
SHIPMENTS: Final = "shipments"
INVOICES: Final = "invoices"
SOURCES: Final = "sources"
AUDIT_LOG: Final = "audit_log"
#: Orders' and shipments' search documents (``readmodel.search_keys``), one per entity,
#: rewritten only when what they are derived from changes; part of a generation.
SEARCH_KEYS: Final = "search_keys"
#: One document ``{_id: "active", suffix: str, config: str | None, revisionOffset: int,
#: previous: str, switchedAt: datetime}`` naming the projection generation readers use, the
#: configuration a rebuild built it with (``projections.generation_config``), what its change
#: notices add to a shipment's ``rev`` (``REVISION_OFFSET``), the suffix readers left at the
#: last switch and when (``projections.generations`` counts the previous one's grace from
#: it). A rebuild writes ``orders__<suffix>`` etc. and flips this pointer when it has caught
#: up. Every reader reads it with ``readmodel.read_pointer``.
READ_POINTER: Final = "read_pointer"
#: The read pointer's field holding the active generation's revision offset: a notice's
#: revision is it plus the shipment's ``rev``, so revisions go on rising across a rebuild
#: (``projections.revision_offsets``). Absent in pointers written before session 19: 0.
REVISION_OFFSET: Final = "revisionOffset"

#: One document per rebuild, ``_id`` its generation's suffix: the marker that tells a
#: generation still being built from one a failed rebuild left (``projections.build_marker``).
#: Not part of a generation; readers never read it.
GENERATION_BUILDS: Final = "generation_builds"
#: One document, ``_id`` ``"rebuild"``: the lease the one running rebuild holds
#: (``projections.rebuild_lease``: its suffix, start, heartbeat and end), which a second
#: rebuild must claim before it starts. Not part of a generation; readers never read it.
REBUILD_LEASE: Final = "rebuild_lease"

ENTITY_COLLECTIONS: Final = (ORDERS, SHIPMENTS, INVOICES, SOURCES)
#: The collections of one projection generation (``generation_collection`` of each).
GENERATION_COLLECTIONS: Final = (*ENTITY_COLLECTIONS, SEARCH_KEYS)

#: Counts every write to a projection document: a version number for optimistic concurrency.
#: A batch writes a document it read with this count in the filter
#: (``ProjectionStore.write_all_if_unchanged``), so the write lands only on the document
#: exactly as read, and the batch knows the result (and its ``rev``) without reading it back.
#: Updates are atomic per document on MongoDB and on DocumentDB alike; the count is what
#: tells a writer that someone else came in between.
WRITES: Final = "_writes"

#: The stamp of the folded write that last wrote a document
#: (``ProjectionStore.write_all_if_unchanged``); not a field the reducers own.
WRITER: Final = "_writer"

#: Facts other customers reported for a document before its snapshot named its customer
#: (``projections.reducers``, "Tenancy"): kept for operators (``projections verify``) and
#: never shown. A list, sorted by customer, of ``{"customerId": ..., <fact fields>}``.
FOREIGN_FACTS: Final = "_foreignFacts"

#: Kind -> the customers of the documents of that kind naming this one whose summaries found
#: no room in it (``RELATED_OVERFLOW``), sorted; only for the kinds whose documents naming it
#: are found through their customers' indexes (``links.naming_scans``: invoices). The
#: projector's read of what names an overflowing entity (``projections.effects.fan_out_reads``)
#: reads these customers' documents besides its own customer's, so an invoice of another
#: customer naming an order or a shipment gets its changes too (session 19). Written with the
#: mark, by the same pushers in the same write, never taken away.
RELATED_OVERFLOW_CUSTOMERS: Final = "_relatedOverflowCustomers"

EntityKind = Literal["orders", "shipments", "invoices"]

#: Shipments' and invoices' ship-from warehouses, derived by the projector from the order
#: summaries and (invoices) lines on every write (``links.visible_warehouses``): sorted,
#: distinct, non-empty; absent when no warehouse set can be told (an order without a
#: summary or a warehouse, an invoice line without an order). The field that lets the
#: scope filter of a warehouse-limited caller decide visibility in the query
#: (``entitlements.scope``). Documents written before it existed lacked it: the projector
#: fills it once per generation when it starts (``ProjectionStore.fill_warehouses``, its
#: marker ``search_keys.WAREHOUSES_MARKER``; docs/architecture.md, "Warehouse limits").
WAREHOUSE_IDS: Final = "warehouseIds"
#: The kinds of document that carry ``WAREHOUSE_IDS``.
WAREHOUSE_DERIVED_KINDS: Final = frozenset({SHIPMENTS, INVOICES})

#: Each collection's bookkeeping fields (the module's docstring): the projector's alone, so the
#: readers leave them out of every read (a fifth to a quarter of an order's or a shipment's
#: bytes, sent, copied and decoded for nothing). What is stored under a name missing here
#: still never leaves the readers (``resolvers.readers._public``); it is only read for nothing.
BOOKKEEPING_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    ORDERS: (
        "_orderState",
        "_fulfillmentState",
        FOREIGN_FACTS,
        WRITES,
        WRITER,
        RELATED_OVERFLOW_CUSTOMERS,
    ),
    SHIPMENTS: ("_shipmentState", FOREIGN_FACTS, WRITES, WRITER, RELATED_OVERFLOW_CUSTOMERS),
    INVOICES: ("_invoiceState", FOREIGN_FACTS, WRITES, WRITER),
    SOURCES: ("_sourceState", WRITES, WRITER),
}
#: The projection of a read of whole documents of each collection, but for the bookkeeping.
WITHOUT_BOOKKEEPING: Final[dict[str, dict[str, Any]]] = {
    name: dict.fromkeys(fields, 0) for name, fields in BOOKKEEPING_FIELDS.items()
}

#: The largest document MongoDB and DocumentDB store, in BSON bytes (``maxBsonObjectSize``):
#: a larger insert is refused by the driver (``DocumentTooLarge``), an update whose result
#: would be larger by the server.
STORE_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
#: The most an entity document's facts set aside for other customers (``FOREIGN_FACTS``)
#: may take, in BSON bytes. They are measured apart from the rest of the document
#: (``projections.document_size``): counted with it, one customer's facts reported before
#: the snapshot could get another customer's snapshot or facts refused, and what the document
#: shows would depend on which came first. Their own cap keeps the stored document within the
#: store's limit: a fact that would take them over it is refused (a dead letter, reason class
#: ``customer conflict``), as it would be after the snapshot. 1 MiB holds thousands of
#: milestones or payments: far more than a misrouted feed sends before its snapshot.
MAX_FOREIGN_FACTS_BYTES: Final = 1024 * 1024
#: The largest entity document (and search document) an event may leave, its facts set
#: aside for other customers left out (``projections.document_size``, applied by
#: ``projections.batch.plan_entity``): an event whose application would make its document
#: larger (and larger than it was) is refused, a dead letter, and the document stays as it
#: was.
#:
#: Why 2 MiB below ``STORE_DOCUMENT_BYTES``: one for ``FOREIGN_FACTS`` (their own cap, above;
#: a snapshot that swaps customers may move more there, but it is refused when the whole
#: document would exceed both limits together), and one because the planner measures the
#: document with every field it holds when loaded (the summaries under ``related`` included),
#: but the store adds to it after planning: the summaries of the batch's other entities folded
#: into the same write and those other entities' projectors push later (200-400 bytes each,
#: at most ``RELATED_SUMMARIES_BYTES`` in all, below), ``warehouseIds``, ``rev``,
#: ``updatedAt``, ``lastEvent``, ``_writes``, ``_writer`` and the wrapping of the bookkeeping
#: blobs (a few kilobytes together: ``lastEvent`` repeats the event's ``source`` and ``id``,
#: which decoding caps at 256 and 128 characters, ``projections.event_fields``; until session
#: 16 the source had no cap, and a milestone with a source of 6 MB, measured at 12 MB here,
#: made a document of 18 MB that the store refused on every retry).
MAX_DOCUMENT_BYTES: Final = STORE_DOCUMENT_BYTES - 1024 * 1024 - MAX_FOREIGN_FACTS_BYTES

#: The most summaries of one kind a document embeds under ``related.<kind>`` (session 16).
#: A summary that finds no room (its holder embeds this many of its kind and none of its
#: source) is not embedded: the holder is marked ``RELATED_OVERFLOW`` for that kind instead,
#: and readers find its links of that kind by querying the other collection
#: (``links.naming_query``). Without it an order named by tens of thousands of shipments
#: outgrew the store's limit, and the write carrying a summary was refused for ever.
MAX_RELATED_SUMMARIES: Final = 300
#: The largest summary embedded, in BSON bytes with its key and ``rev``
#: (``projections.effects.SummaryPush.size``): summaries are 200-400 bytes, but the texts
#: they carry (``shipToName``, the carrier's name) are unbounded by the contract; a larger
#: one overflows its holder's kind like one beyond the count. Sized in bytes, whatever the
#: characters, so that ids and keys at their cap
#: (``projections.event_fields.MAX_IDENTIFIER_LENGTH``, 256 characters, which may each take
#: 4 bytes of UTF-8, or 3 in a key where ``field_key`` escapes ``.``, ``$``, ``%``) never
#: overflow a holder on their own: with every id and key of a summary at the cap in 4-byte
#: characters (an order's repeats its id as its key and ``orderId``, beside ``customerId``,
#: ``warehouseId`` and ``customerReference``; a shipment's beside ``customerId``,
#: ``trackingNumber`` and the carrier's ``scac``) and 100-character names of such characters,
#: the largest measures 5,752 bytes as a push bounds it (an order's; 5,718 in BSON, a
#: shipment's), leaving 8 for longer names
#: (``tests/unit/test_related_overflow.py``). What a holder keeps free for its summaries is
#: not this times ``MAX_RELATED_SUMMARIES`` but ``RELATED_KIND_BYTES`` per kind: a few such
#: summaries fit among ordinary ones. Until session 20 this was 1,664 (now
#: ``SUMMARY_SHARE_BYTES``), sized for ASCII ids, and ids of 256 non-ASCII (or escaped)
#: characters overflowed their holders; session 19's 5,760 with no budget (each of 600
#: summaries that large) took 3.5 MiB off ``MAX_DOCUMENT_BYTES``, and was reverted.
MAX_SUMMARY_BYTES: Final = 5760
#: Each summary's share of its kind's budget (``RELATED_KIND_BYTES``): an ordinary summary
#: is no larger (with every id and key at the cap in ASCII, which ``field_key`` need not
#: escape, and 100-character names, the largest measures 1,578 bytes in BSON: a shipment's),
#: so a holder of summaries no larger than this finds no room only at
#: ``MAX_RELATED_SUMMARIES``, as before the budget.
SUMMARY_SHARE_BYTES: Final = 1664
#: The most the summaries of one kind a document embeds may take together: the BSON bytes of
#: ``related.<kind>`` (its keys, ``rev`` and framing included) once a summary is embedded.
#: A summary that would take them past this finds no room (``links.has_room``), decided in
#: the same atomic write that embeds it or marks the holder (``projections.store``), so no
#: interleaving of writers takes a kind past it. 499,200 bytes: ``MAX_RELATED_SUMMARIES``
#: shares of ``SUMMARY_SHARE_BYTES``, what the count cap alone allowed before session 20, so
#: the document limit's margin is unchanged; it holds 86 summaries of ``MAX_SUMMARY_BYTES``.
RELATED_KIND_BYTES: Final = MAX_RELATED_SUMMARIES * SUMMARY_SHARE_BYTES
#: The most kinds of summaries one document holds (an order: shipments and invoices; a
#: shipment: orders and invoices; an invoice: orders and shipments).
SUMMARY_KINDS_PER_DOCUMENT: Final = 2
#: The most the embedded summaries of a document can take: what may land after the planner
#: measured the document, so it must fit in the mebibyte ``MAX_DOCUMENT_BYTES`` leaves
#: (``tests/unit/test_related_overflow.py``): every kind's budget, and the names and framing
#: of ``related`` and its kinds (36 bytes, rounded up to 64).
RELATED_SUMMARIES_BYTES: Final = SUMMARY_KINDS_PER_DOCUMENT * RELATED_KIND_BYTES + 64
#: ``relatedOverflow.<kind>: true``: this document has more ``<kind>`` links than it embeds
#: summaries of (``MAX_RELATED_SUMMARIES``, ``MAX_SUMMARY_BYTES``, ``RELATED_KIND_BYTES``).
#: Written by the pushers, in the same guarded update (or folded write) that would have
#: embedded the summary, and never unset: a holder marked overflowing is read the slower,
#: always complete way.
RELATED_OVERFLOW: Final = "relatedOverflow"


def generation_collection(base: str, suffix: str) -> str:
    """Name of ``base`` in projection generation ``suffix`` ("" is the original generation)."""
    return f"{base}__{suffix}" if suffix else base


def stored_time(value: Any) -> datetime | None:
    """A time the store wrote (the pointer's switch, a rebuild's marker or lease, the
    store's clock) as an aware UTC datetime, whether or not the client decodes them aware;
    None if absent or not a time."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def base_collection(name: str) -> str:
    """The logical collection of a physical one: ``orders__g2`` is ``orders``
    (``generation_collection`` undone): the rules for a collection are the same in every
    generation."""
    return name.partition("__")[0]


# --- vocabularies -------------------------------------------------------------------------

#: The portal's shipment status vocabulary, in no particular order of progress.
SHIPMENT_STATUSES: Final = (
    "PLANNED",
    "PICKED_UP",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "DELIVERY_ATTEMPTED",
    "EXCEPTION",
    "CANCELLED",
)

#: Fulfillment stages in the order a warehouse reaches them; the furthest seen wins.
FULFILLMENT_STAGES: Final = (
    "RELEASED",
    "ALLOCATED",
    "PICKING",
    "PICKED",
    "PACKED",
    "LOADED",
    "SHIPPED",
)

#: Stored invoice statuses. OVERDUE is not stored: it depends on today's date, so readers
#: derive it from ``status == "OPEN"`` and ``dueDate < today``.
INVOICE_STATUSES: Final = ("OPEN", "PAID", "VOID")

#: What a source may declare about itself on ``ops.source-status.v1`` (``sources.declared``).
DECLARED_STATUSES: Final = ("AVAILABLE", "MAINTENANCE", "DEGRADED")

#: The contract's order types (``orders.orderType``).
ORDER_TYPES: Final = ("OUTBOUND", "INBOUND", "RETURN")

#: The contract's transport modes (``shipments.mode``).
TRANSPORT_MODES: Final = ("PARCEL", "LTL", "FTL", "OCEAN", "AIR")

#: The contract's charge types (``invoices.lines[].chargeType``).
CHARGE_TYPES: Final = ("FREIGHT", "FUEL", "ACCESSORIAL", "STORAGE", "HANDLING")


# --- shared pieces ------------------------------------------------------------------------


class Address(TypedDict):
    line1: str
    line2: NotRequired[str | None]
    city: str
    region: NotRequired[str | None]
    postalCode: str
    countryCode: str


class EventRef(TypedDict):
    """The event that last changed a document, as the projector applied them (a batch's in
    source-time order; an event that changed nothing never replaces it): the API reports it
    as provenance (``projections.batch._change``)."""

    source: str
    id: str
    type: str
    time: datetime


class RelatedSummary(TypedDict, total=False):
    """A summary of another entity, embedded so that a portal screen needs one lookup.

    ``rev`` is the ``rev`` of the summarised document when the summary was taken; a write of
    a summary is applied only when its ``rev`` is greater than the stored one, so concurrent
    projectors converge on the newest summary whatever order their writes land in.
    """

    rev: int
    #: The summarised entity's tenant: readers check entitlements on a summary without
    #: loading the entity.
    customerId: str | None


class ShipmentSummary(RelatedSummary, total=False):
    shipmentId: str
    status: str
    mode: str | None
    carrier: dict[str, str] | None
    trackingNumber: str | None
    eta: datetime | None
    deliveredAt: datetime | None


class OrderSummary(RelatedSummary, total=False):
    orderId: str
    #: Ship-from warehouse: warehouse-restricted customers see a shipment or invoice only
    #: through orders from their allowed warehouses.
    warehouseId: str | None
    customerReference: str | None
    orderType: str | None
    shipToName: str | None
    fulfillmentStage: str | None
    cancelled: bool


class InvoiceSummary(RelatedSummary, total=False):
    invoiceId: str
    invoiceNumber: str | None
    currency: str | None
    total: str | None
    balance: str | None
    status: str
    dueDate: str | None


class Related(TypedDict, total=False):
    orders: dict[str, OrderSummary]
    shipments: dict[str, ShipmentSummary]
    invoices: dict[str, InvoiceSummary]


class EntityBase(TypedDict, total=False):
    _id: str
    customerId: str
    #: True once the system of record's snapshot arrived. Documents created early by a
    #: related entity (a milestone before its plan, an invoice before its order) are
    #: ``known: False`` and are not served as entities until then.
    known: bool
    rev: int
    updatedAt: datetime
    lastEvent: EventRef
    related: Related
    #: Kind -> True: more links of that kind than ``related`` embeds (``RELATED_OVERFLOW``).
    relatedOverflow: dict[str, bool]


# --- orders -------------------------------------------------------------------------------


class OrderLine(TypedDict):
    lineNumber: int
    sku: str
    description: str
    quantity: int
    uom: str


class Party(TypedDict, total=False):
    warehouseId: str
    name: str
    address: Address


class FulfillmentStep(TypedDict):
    stage: str
    occurredAt: datetime
    warehouseId: str
    shipmentId: NotRequired[str | None]


class FulfillmentLine(TypedDict, total=False):
    lineNumber: int
    quantityPicked: int
    quantityShipped: int


class Fulfillment(TypedDict, total=False):
    #: Furthest stage reached, whatever order the stage events arrived in.
    stage: str
    warehouseId: str
    #: One step per stage seen, sorted by stage order (the history a portal shows).
    history: list[FulfillmentStep]
    handlingUnits: list[dict[str, Any]]
    lines: list[FulfillmentLine]
    shipmentIds: list[str]


class Cancellation(TypedDict):
    reason: str
    cancelledAt: datetime


class OrderDocument(EntityBase, total=False):
    customerReference: str
    orderType: str
    orderedAt: datetime
    requestedDeliveryDate: str
    shipFrom: Party
    shipTo: Party
    #: Copy of ``shipFrom.warehouseId`` at top level: warehouse entitlements filter on it.
    warehouseId: str
    lines: list[OrderLine]
    cancelled: bool
    cancellation: Cancellation | None
    fulfillment: Fulfillment
    #: Copy of ``fulfillment.stage`` at top level for filters.
    fulfillmentStage: str | None


# --- shipments ----------------------------------------------------------------------------


class Location(TypedDict, total=False):
    city: str
    region: str | None
    countryCode: str
    lat: float | None
    lon: float | None


class Milestone(TypedDict, total=False):
    source: str
    milestoneId: str
    #: The source's own code, always kept.
    rawCode: str
    #: The portal status it maps to; None when the code is unknown for that source (counted
    #: in ``unknownStatusCodes``) or informational only (e.g. an estimate; not counted).
    status: str | None
    reasonCode: str | None
    occurredAt: datetime
    location: Location | None
    estimatedDeliveryAt: datetime | None
    signedBy: str | None


class ProofOfDelivery(TypedDict):
    signedBy: str
    capturedAt: datetime
    documentUrl: str


class ShipmentDocument(EntityBase, total=False):
    orderIds: list[str]
    mode: str
    carrier: dict[str, str]
    #: Copy of ``carrier.scac`` at top level for filters.
    carrierScac: str
    trackingNumber: str
    #: ``search_keys.tracking_key`` of ``trackingNumber``: what the lookup by number and the
    #: live feed compare (``TRACKING_KEY``).
    trackingKey: str
    origin: Address
    destination: Address
    plannedPickupAt: datetime
    plannedDeliveryAt: datetime
    serviceLevel: str
    #: Timeline sorted by (occurredAt, source, sequence, milestoneId); one entry per
    #: (source, milestoneId).
    milestones: list[Milestone]
    #: Portal status: the mapped status of the latest milestone by ``occurredAt`` among those
    #: whose code is known; PLANNED without one; CANCELLED after a cancellation.
    status: str
    #: Latest known ``estimatedDeliveryAt``, else ``plannedDeliveryAt``.
    eta: datetime | None
    deliveredAt: datetime | None
    pod: ProofOfDelivery | None
    cancelled: bool
    cancellation: Cancellation | None
    #: How many milestones carry a code the mapping does not know.
    unknownStatusCodes: int


# --- invoices -----------------------------------------------------------------------------


class InvoiceLine(TypedDict, total=False):
    description: str
    chargeType: str
    amount: str
    orderId: str | None
    shipmentId: str | None


class Payment(TypedDict):
    paymentId: str
    amount: str
    paidAt: datetime


class InvoiceDocument(EntityBase, total=False):
    invoiceNumber: str
    issuedAt: datetime
    dueDate: str
    currency: str
    lines: list[InvoiceLine]
    subtotal: str
    tax: str
    total: str
    documentUrl: str
    #: Distinct ids named by the lines, sorted.
    orderIds: list[str]
    shipmentIds: list[str]
    #: One per paymentId, sorted by (paidAt, paymentId).
    payments: list[Payment]
    amountPaid: str
    #: ``total - amountPaid``; "0.00" or less means paid. None until the invoice itself arrived.
    balance: str | None
    status: str
    voided: bool
    voidReason: str | None
    voidedAt: datetime | None


# --- sources ------------------------------------------------------------------------------


class DeclaredStatus(TypedDict, total=False):
    status: str
    message: str | None
    expectedBackAt: datetime | None
    changedAt: datetime


class SourceDocument(TypedDict, total=False):
    _id: str
    #: Source time of the newest event applied from this source.
    lastEventAt: datetime
    #: Wall-clock time at which the projector last applied an event from this source.
    lastAppliedAt: datetime
    lastEventId: str
    #: What the source declared on ``ops.source-status.v1``; AVAILABLE when never declared.
    declared: DeclaredStatus


# --- audit --------------------------------------------------------------------------------


class AuditEntry(TypedDict):
    """One answer of a cross-customer read by a support user: what the user learned.

    ``answered`` ``"page"``: the items and ``pageInfo``; ``customerIds`` the customers whose
    shipments were returned, ``more`` whether ``pageInfo`` said more matches lie beyond the
    page (so a page of 0 items that answers "more" is not an empty record). ``"count"``:
    ``totalCount``, written when it is answered; ``count`` its value, ``customerIds`` the
    customers whose shipments it counted. ``"refused"``: the search was refused for matching
    too many orders (``customerIds`` empty), which tells the user that much across
    customers."""

    at: datetime
    subject: str
    roles: list[str]
    operation: str
    query: str
    variables: dict[str, Any]
    answered: Literal["page", "count", "refused"]
    customerIds: list[str]
    more: NotRequired[bool]
    count: NotRequired[int]


# --- helpers shared by writer and readers -------------------------------------------------


def field_key(entity_id: str) -> str:
    """Encode an id for use as a document field name (no ``.``, no leading ``$``).

    Reversible and stable; ``%`` is escaped first so encoded keys never collide.
    """
    return entity_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


_KEY_ESCAPES: Final = {"%25": "%", "%2E": ".", "%24": "$"}


def id_of_key(key: str) -> str:
    """The id ``field_key`` encoded as ``key`` (one pass, so ``%252E`` stays ``%2E``)."""
    return re.sub(r"%(?:25|2E|24)", lambda match: _KEY_ESCAPES[match.group(0)], key)


#: The indexes of the business keys clients look entities up by (a shipment's tracking number,
#: an order's customer reference, an invoice's number), which the lookups name as hints (the
#: lookup's sort, newest first, would otherwise lead the planner to the customer's sort index).
TRACKING_NUMBER_INDEX: Final = "tracking_number"
#: A shipment's ``search_keys.tracking_key`` (``ShipmentDocument.trackingKey``) and its index:
#: the lookup by number reads through it once a generation's shipments all hold it.
TRACKING_KEY: Final = "trackingKey"
TRACKING_KEY_INDEX: Final = "tracking_key"
CUSTOMER_REFERENCE_INDEX: Final = "customer_reference"
INVOICE_NUMBER_INDEX: Final = "invoice_number"

#: The indexes the readers' queries need, on MongoDB and on DocumentDB alike
#: (``tests/integration/test_query_plans.py`` checks with ``explain`` that they are used).
INDEXES: Final[dict[str, list[tuple[str, list[tuple[str, int]]]]]] = {
    ORDERS: [
        (CUSTOMER_REFERENCE_INDEX, [("customerId", 1), ("customerReference", 1)]),
        ("customer_ordered", [("customerId", 1), ("orderedAt", -1), ("_id", -1)]),
        # the links of a shipment overflowing with orders (``links.naming_query``)
        ("fulfillment_shipment_ids", [("fulfillment.shipmentIds", 1)]),
    ],
    SHIPMENTS: [
        (TRACKING_NUMBER_INDEX, [("trackingNumber", 1)]),
        (TRACKING_KEY_INDEX, [(TRACKING_KEY, 1)]),
        ("customer_planned", [("customerId", 1), ("plannedPickupAt", -1), ("_id", -1)]),
        ("customer_status", [("customerId", 1), ("status", 1)]),
        ("customer_eta", [("customerId", 1), ("eta", -1), ("_id", -1)]),
        # the links of an order overflowing with shipments (``links.naming_query``)
        ("order_ids", [("orderIds", 1)]),
    ],
    INVOICES: [
        (INVOICE_NUMBER_INDEX, [("customerId", 1), ("invoiceNumber", 1)]),
        ("customer_issued", [("customerId", 1), ("issuedAt", -1), ("_id", -1)]),
        ("customer_due", [("customerId", 1), ("dueDate", -1), ("_id", -1)]),
        # none for the links of an order or a shipment overflowing with invoices (over
        # MAX_RELATED_SUMMARIES of them: rare): two multikey indexes doubled the store's time
        # for every invoice write (bench/projector.py, session 16), so that rare read goes
        # through the customer's indexes instead
    ],
    AUDIT_LOG: [("at", [("at", -1)])],
    SEARCH_KEYS: [
        ("keys", [("keys", 1)]),
        ("order_ids", [("orderIds", 1)]),
    ],
}


#: Options DocumentDB (FerretDB 2's engine) takes for the compound indexes, and MongoDB
#: refuses: an *ordered* (composite-term) index stores one term per document for the whole
#: key, so ``customerId`` equality plus a range on the sort field is one short index range
#: instead of an intersection with every one of the customer's entries (readers bound a
#: page's sort with such ranges: ``resolvers/paging_windows.py``), and ``customerId`` plus a
#: reference or an invoice number is one entry (session 10: 1.3-1.5 ms against 7.6-10.1 ms
#: for a customer of 100,000 orders). The index access method stays DocumentDB's default one
#: (the *extended* RUM method is not used; docs/store.md).
DOCUMENTDB_COMPOUND_INDEX_OPTIONS: Final[dict[str, Any]] = {"enableOrderedIndex": True}


def is_compound_index(keys: list[tuple[str, int]]) -> bool:
    """Whether an ``INDEXES`` entry has more than one key (DocumentDB orders those)."""
    return len(keys) > 1


def sort_index(collection: str, field: str) -> str | None:
    """The index that holds one customer's ``collection`` documents in ``field`` order (then
    ``_id``), if ``INDEXES`` has one.

    Readers name it as the query's hint: DocumentDB's planner prices every index scan on a
    customer's documents alike and may pick another index with a ``customerId`` prefix, then
    sort the customer's whole list in memory; the hint makes the page an ordered index scan
    that stops after a page. (MongoDB would choose it anyway.)
    """
    for name, keys in INDEXES.get(collection, ()):
        if [key for key, _ in keys] == ["customerId", field, "_id"]:
            return name
    return None


def field_index(collection: str, field: str) -> str | None:
    """The index of ``collection`` on ``field`` alone, if ``INDEXES`` has one: the hint of a
    read of the documents naming an overflowing holder (``links.naming_query``), which
    DocumentDB's planner might otherwise serve from a customer's index (the scope filter
    names the customer)."""
    for name, keys in INDEXES.get(collection, ()):
        if [key for key, _ in keys] == [field]:
            return name
    return None
