"""Every write command the store sends names its documents in ``_id`` order, whatever order
the batch gave them in: the commands as sent, for each write path of ``ProjectionStore``.

DocumentDB holds every document a write command wrote until the command ends, so two
commands taking the same documents in other orders can wait for each other until PostgreSQL
fails one ("deadlock detected"). The racing tests of ``test_store.py`` meet that only now
and then; what prevents it, one order in every command, is checked here on each command."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from projections.batch import EntityChange, EntityKey, SourceSeen
from projections.store import FoldedWrite, ProjectionStore
from readmodel import documents
from readmodel.documents import WRITES
from tests.helpers import CommandRecorder, order_summary_push, summary_push

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
IDS = [f"SO-{n:02d}" for n in range(10)]


async def _kept_as_read(
    store: ProjectionStore, stored: Mapping[str, Callable[[], dict[str, Any]]]
) -> None:
    """What a write keeps for the next batch (``Landed.stored``, derived from the bytes it
    sent) is what a read of the store returns, value by value and type by type."""
    kept = {doc_id: derive() for doc_id, derive in stored.items()}
    assert kept
    read = await store.load(documents.ORDERS, kept)
    assert kept == read
    for doc_id, doc in kept.items():  # (key order aside: nothing reads it)
        for name, value in doc.items():
            assert type(value) is type(read[doc_id][name]), (doc_id, name)


def _shuffled(ids: list[str], seed: int = 13) -> list[str]:
    out = list(ids)
    random.Random(seed).shuffle(out)
    assert out != sorted(out)
    return out


def _commands_in_id_order(recorder: CommandRecorder) -> list[str]:
    """The names of the write commands sent, each checked to list its ``_id``s in order."""
    written = recorder.written_ids()
    for name, ids in written:
        assert ids == sorted(ids), f"{name} in another order than _id: {ids}"
    assert any(len(ids) > 1 for _, ids in written), written
    return [name for name, _ in written]


async def _insert_orders(store: ProjectionStore, docs: list[dict[str, Any]]) -> None:
    await store.db[documents.ORDERS].insert_many(docs)


async def test_folded_writes_update_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    store, recorder = recorded_store
    seen = {order: {"_id": order, "rev": 1, WRITES: 1} for order in IDS}
    await _insert_orders(store, list(seen.values()))
    recorder.forget()
    writes = [
        FoldedWrite(order, seen[order], None, [summary_push(order, "SH-1", rev=1)])
        for order in _shuffled(IDS)
    ]

    landed = await store.write_all_if_unchanged(documents.ORDERS, writes, T0)

    assert landed.missed == set()
    assert _commands_in_id_order(recorder) == ["update"]
    await _kept_as_read(store, landed.stored)


async def _new_documents(store: ProjectionStore) -> set[str]:
    """``insert_new``, the documents a batch creates (what it keeps is what a read returns);
    those it missed."""
    changes = [
        EntityChange(
            key=EntityKey("orders", order),
            before=None,
            after={"known": True, "customerId": "ACME"},
            set_fields={"known": True, "customerId": "ACME"},
            unset_fields=(),
            last_event=documents.EventRef(source="erp", id=f"e-{order}", type="t", time=T0),
            customer_id="ACME",
        )
        for order in _shuffled(IDS)
    ]
    landed = await store.insert_new(documents.ORDERS, changes, {}, T0)
    await _kept_as_read(store, landed.stored)
    return landed.missed


async def _placeholders(store: ProjectionStore) -> set[str]:
    """``insert_placeholders``, two summaries an order; the orders there already."""
    pushes = [summary_push(order, s, rev=1) for s in ("SH-1", "SH-2") for order in _shuffled(IDS)]
    return await store.insert_placeholders(documents.ORDERS, pushes)


@pytest.mark.parametrize("insert", [_new_documents, _placeholders], ids=["new", "placeholders"])
async def test_documents_are_inserted_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
    insert: Callable[[ProjectionStore], Awaitable[set[str]]],
) -> None:
    store, recorder = recorded_store
    await _insert_orders(store, [{"_id": order, "rev": 1} for order in IDS[::3]])
    recorder.forget()

    assert await insert(store) == set(IDS[::3])  # created by "another writer" first
    assert _commands_in_id_order(recorder) == ["insert"]


async def test_summary_pushes_and_their_resends_update_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """Two rounds (two summaries per order); in the first, the orders holding a newer
    summary refuse the guarded upsert and are sent again without upsert."""
    store, recorder = recorded_store
    newer = {"shipments": {"SH-1": {"shipmentId": "SH-1", "rev": 5}}}
    await _insert_orders(store, [{"_id": order, "rev": 1, "related": newer} for order in IDS[::2]])
    recorder.forget()
    pushes = [summary_push(order, s, rev=2) for s in ("SH-1", "SH-2") for order in _shuffled(IDS)]

    await store.push_summaries("", pushes)

    assert _commands_in_id_order(recorder) == ["update", "update", "update"]
    assert recorder.written_ids()[1] == ("update", IDS[::2])  # the re-sends


async def test_summary_removals_update_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    store, recorder = recorded_store
    await store.push_summaries("", [summary_push(order, "SH-1", rev=1) for order in IDS])
    recorder.forget()

    await store.push_summaries(
        "", [summary_push(order, "SH-1", rev=2, removal=True) for order in _shuffled(IDS)]
    )

    assert _commands_in_id_order(recorder) == ["update"]
    async for order in store.db[documents.ORDERS].find({}):
        assert order["related"]["shipments"] == {}, order["_id"]


async def test_sources_are_created_and_touched_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    store, recorder = recorded_store
    sources = [f"src-{n}" for n in range(8)]
    recorder.forget()

    for n in range(2):  # creating, then touching the documents created
        seen = {source: SourceSeen(T0, f"{source}-{n}") for source in _shuffled(sources, n)}
        await store.touch_sources("", seen, T0)

    assert _commands_in_id_order(recorder) == ["insert", "update", "update"]


async def test_search_documents_are_inserted_and_advanced_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """Inserts in commands of four; those already there are advanced by guarded updates."""
    store, recorder = recorded_store
    collection = documents.SEARCH_KEYS
    await store.db[collection].insert_many([{"_id": doc_id, "rev": 1} for doc_id in IDS[::2]])
    recorder.forget()
    docs = [{"_id": doc_id, "rev": 2, "text": [doc_id]} for doc_id in _shuffled(IDS)]

    await store.insert_or_advance(collection, docs, per_command=4)

    assert _commands_in_id_order(recorder) == ["insert", "insert", "insert", "update"]
    assert recorder.written_ids()[-1] == ("update", IDS[::2])  # those already there
    assert {doc["rev"] async for doc in store.db[collection].find({})} == {2}


async def test_search_documents_guessed_there_are_advanced_then_inserted_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """Documents guessed there (``present``) go as guarded updates first (in commands of
    ``WRITE_CHUNK``); the half that was missing is then inserted, each command in ``_id``
    order."""
    store, recorder = recorded_store
    collection = documents.SEARCH_KEYS
    await store.db[collection].insert_many([{"_id": doc_id, "rev": 1} for doc_id in IDS[::2]])
    recorder.forget()
    docs = [{"_id": doc_id, "rev": 2, "text": [doc_id]} for doc_id in _shuffled(IDS)]

    await store.insert_or_advance(collection, docs, per_command=4, present=set(IDS))

    assert _commands_in_id_order(recorder) == ["update", "insert", "insert"]
    assert [ids for name, ids in recorder.written_ids() if name == "insert"] == [
        IDS[1::2][:4],
        IDS[1::2][4:],
    ]
    assert {doc["rev"] async for doc in store.db[collection].find({})} == {2}


async def test_order_summary_pushes_and_their_warehouse_settles_update_in_id_order(
    recorded_store: tuple[ProjectionStore, CommandRecorder],
) -> None:
    """Order summaries into shipments: the pushes (each after the write that fails the
    shipment's ``warehouseIds`` closed), then the settle of every shipment's field, whatever
    order the store returns the shipments in (here: the shuffled order they were created in)."""
    store, recorder = recorded_store
    shipments = [f"SH-{n:02d}" for n in range(10)]
    await store.db[documents.SHIPMENTS].insert_many(
        [
            {"_id": shipment, "rev": 1, "orderIds": [f"SO-{shipment}"], "warehouseIds": ["DC-X"]}
            for shipment in _shuffled(shipments)
        ]
    )
    recorder.forget()
    pushes = [
        order_summary_push(shipment, "DC-ATL", order_id=f"SO-{shipment}", rev=1)
        for shipment in _shuffled(shipments)
    ]

    await store.push_summaries("", pushes)

    assert _commands_in_id_order(recorder) == ["update", "update"]
    async for shipment in store.db[documents.SHIPMENTS].find({}):
        assert shipment["warehouseIds"] == ["DC-ATL"], shipment["_id"]
