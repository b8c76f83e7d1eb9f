"""Helpers shared by unit and integration tests: one way to make a caller, a token, a folded
document, to wait for new topics' leaders, and to see the commands a client sends. Test
modules import from here (or from a ``*_harness`` module); never from another test module,
nor from a ``conftest``."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import bson
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from bson.codec_options import CodecOptions
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from entitlements.caller import Caller
from entitlements.mint import mint_token
from entitlements.tokens import TokenSettings
from projections.effects import SummaryPush
from projections.events import Event, InvalidEvent
from projections.reducers import apply
from projections.status_mapping import StatusMapping, load_status_mapping
from readmodel.changes import ShipmentChange

#: The HS256 secret every test token is signed with, and the API processes tests start trust.
SECRET: Final = "portal-tests-shared-secret-0123456789abcdef"
TOKENS: Final = TokenSettings(hs256_secret=SECRET)
#: The packaged status map, as the projector loads it by default.
MAPPING: Final = load_status_mapping()
_BSON: Final[CodecOptions[dict[str, Any]]] = CodecOptions(tz_aware=True)
#: When the milestones of ``shipment_change`` occur, unless told otherwise.
_OCCURRED_AT: Final = datetime(2026, 11, 21, 20, 42, tzinfo=UTC)


def caller(
    *customers: str,
    roles: Iterable[str] = ("viewer",),
    subject: str = "alice",
    valid_for: timedelta = timedelta(hours=1),
) -> Caller:
    """A verified caller acting for ``customers`` with ``roles``."""
    return Caller(
        subject=subject,
        customers=frozenset(customers),
        roles=frozenset(roles),
        expires_at=datetime.now(UTC) + valid_for,
    )


def token_for(
    customers: Iterable[str],
    roles: Iterable[str] | None = None,
    *,
    tokens: TokenSettings = TOKENS,
    subject: str = "alice",
    ttl_seconds: int = 3600,
    issued_at: datetime | None = None,
) -> str:
    """A bearer token the API started with ``tokens`` (default: ``SECRET``) accepts, until
    ``ttl_seconds`` after ``issued_at`` (default: now)."""
    return mint_token(
        tokens,
        subject=subject,
        customers=list(customers),
        roles=list(roles or ["viewer"]),
        ttl_seconds=ttl_seconds,
        now=issued_at,
    )


def fold(
    *events: Event,
    start: dict[str, Any] | None = None,
    mapping: StatusMapping = MAPPING,
    stored: bool = False,
    refused: list[Event] | None = None,
) -> dict[str, Any]:
    """Apply ``events`` in the given order to ``start`` (None: no document yet).

    ``stored`` makes it behave like the projector: every intermediate document makes a BSON
    round trip, and each call is checked not to mutate the document it was given.
    ``refused``: events the reducers refuse (``InvalidEvent``) are put there and skipped, as
    the projector dead-letters them; without it they raise.
    """
    doc = copy.deepcopy(start)
    for event in events:
        before = copy.deepcopy(doc) if stored else None
        try:
            new = apply(doc, event, mapping)
        except InvalidEvent:
            if refused is None:
                raise
            refused.append(event)
            continue
        if stored:
            assert doc == before, "apply() mutated its input document"
            new = bson.decode(bson.encode(new), codec_options=_BSON)
        doc = new
    assert doc is not None
    return doc


def shipment_change(
    n: int,
    customer: str = "ACME",
    *,
    code: str = "AF",
    occurred_at: datetime = _OCCURRED_AT,
    **overrides: Any,
) -> ShipmentChange:
    """Change notice ``n`` of ``customer``: milestone ``ms-n`` (raw ``code``) of shipment
    ``SH-n`` in Atlanta, projected a minute after it occurred.

    The same ``n`` gives the same ``notice_id`` (a repeat, as after a projector crash);
    ``overrides`` replace any other field.
    """
    change = ShipmentChange(
        notice_id=f"tms/us-road|ms-{n}",
        shipment_id=f"SH-{n}",
        customer_id=customer,
        tracking_number=f"1Z{n:04d}",
        status="IN_TRANSIT",
        milestone={
            "source": "tms/us-road",
            "milestoneId": f"ms-{n}",
            "rawCode": code,
            "status": "IN_TRANSIT",
            "occurredAt": occurred_at.isoformat(),
            "location": {"city": "Atlanta", "countryCode": "US"},
        },
        rev=n + 1,
        projected_at=occurred_at + timedelta(minutes=1),
    )
    return dataclasses.replace(change, **overrides)


@dataclasses.dataclass(frozen=True)
class Stack:
    """Where the services are; the ``stack`` fixture (``tests/conftest.py``) returns it once
    both have answered."""

    kafka_bootstrap: str
    mongodb_uri: str


async def wait_for_leaders(admin: AIOKafkaAdminClient, expected: dict[str, int]) -> None:
    """Topic creation returns before every partition has a leader; producing or assigning
    before that fails with UNKNOWN_TOPIC_OR_PARTITION, so wait until metadata shows them."""
    async with asyncio.timeout(30):
        while True:
            described = await admin.describe_topics(list(expected))
            ready = {
                t["topic"]
                for t in described
                if t["error_code"] == 0
                and len(t["partitions"]) == expected[t["topic"]]
                and all(p["leader"] >= 0 for p in t["partitions"])
            }
            if ready == set(expected):
                return
            await asyncio.sleep(0.05)


class CommandRecorder(monitoring.CommandListener):
    """What a client (made with ``event_listeners=[recorder]``) sends, command by command as
    sent, and the documents the store replies with to its reads: the one way tests see the
    round trips, the queries and the replies behind a result."""

    def __init__(self) -> None:
        self._sent: list[tuple[str, dict[str, Any]]] = []
        self._replied: list[tuple[str, Mapping[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self._sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if not isinstance(cursor, Mapping):
            return
        collection = str(cursor.get("ns", "")).partition(".")[2]
        for doc in [*cursor.get("firstBatch", ()), *cursor.get("nextBatch", ())]:
            self._replied.append((collection, doc))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def forget(self) -> None:
        """Start recording afresh (a test's earlier commands are not the ones it counts)."""
        self._sent.clear()
        self._replied.clear()

    def names(self, *, ignoring: Iterable[str] = ()) -> list[str]:
        """The names of the commands sent, in order, less those ``ignoring`` names."""
        ignored = set(ignoring)
        return [name for name, _ in self._sent if name not in ignored]

    def commands(self, *names: str) -> list[dict[str, Any]]:
        """The commands sent by any of ``names``, in order, as sent."""
        return [command for name, command in self._sent if name in names]

    def updates(self) -> list[dict[str, Any]]:
        """The statements (``q``, ``u``, ``upsert``) of every ``update`` command sent."""
        return [dict(s) for command in self.commands("update") for s in command.get("updates", ())]

    def written_ids(self) -> list[tuple[str, list[Any]]]:
        """Per ``insert`` and ``update`` command sent, in order: its name and the ``_id`` of
        each document it inserts or statement it holds, in the order the command lists them."""
        written: list[tuple[str, list[Any]]] = []
        for name, command in self._sent:
            if name == "insert":
                written.append((name, [doc["_id"] for doc in command.get("documents", ())]))
            elif name == "update":
                written.append((name, [s["q"]["_id"] for s in command.get("updates", ())]))
        return written

    def replied(self) -> list[tuple[str, Mapping[str, Any]]]:
        """Each document a cursor reply held, with its collection's name, in order."""
        return list(self._replied)


def order_summary_push(
    shipment_id: str, warehouse: str, *, order_id: str = "SO-1", rev: int = 2
) -> SummaryPush:
    """ACME's order ``order_id`` (shipped from ``warehouse``, revision ``rev``) pushed into
    shipment ``shipment_id``: the push that moves the shipment's ``warehouseIds``."""
    summary = {"orderId": order_id, "warehouseId": warehouse}
    return _acme_push(("shipments", shipment_id), ("orders", order_id), rev, summary)


def summary_push(target: str, source: str, rev: int, *, removal: bool = False) -> SummaryPush:
    """Shipment ``source``'s summary (``rev``) pushed into order ``target`` of ACME, or its
    removal."""
    summary = None if removal else {"shipmentId": source, "status": "IN_TRANSIT"}
    return _acme_push(("orders", target), ("shipments", source), rev, summary)


def _acme_push(
    target: tuple[str, str], source: tuple[str, str], rev: int, summary: dict[str, Any] | None
) -> SummaryPush:
    """``source``'s summary (None: its removal) at ``rev`` pushed into ``target``, of ACME."""
    return SummaryPush(*target, *source, rev, summary=summary, customer_id="ACME")


@asynccontextmanager
async def own_database(
    client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database nobody else uses, dropped afterwards (the ``mongo_db`` fixtures' and any
    test's that stores a world of its own for a module)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield client[name]
    await client.drop_database(name)


def consumed_record(
    topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]
) -> ConsumerRecord[bytes, bytes]:
    """A record as aiokafka's consumer gives it: partition 0, offset 7, key ``SO-1``."""
    return ConsumerRecord(topic, 0, 7, 1, 0, b"SO-1", value, None, 4, 2, tuple(headers))
