"""The store's clock: the one clock every host that reads or writes a heartbeat shares.

A rebuild's marker and lease carry a heartbeat that another process, often on another host,
judges stale or not (``projections.build_marker``, ``projections.rebuild_lease``). Written
with one host's clock and compared with another's, two hosts whose clocks are more than the
stale time apart got it wrong: a live rebuild looked dead (its generation dropped under it,
its lease taken), or a dead one blocked for as long as the skew. So those times are written
by the store (``$currentDate``) or read from it (``store_now``), and ages are computed
against ``store_now``.

Why not compare with ``$$NOW`` in the claim filters themselves: FerretDB 2.7 refuses
``$$NOW`` in update and delete filters and in pipeline updates ("$$NOW is not supported in
this context"). It accepts it in an aggregation, as MongoDB 6 does; a claim's cutoff is
therefore computed from a ``store_now`` read just before the claim, which only makes the
claim later (more cautious), never earlier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase

from projections.store import DRIVER_ERRORS, StoreError
from readmodel.documents import stored_time

#: How the drop's and the lease's messages write a stored time.
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

#: A database-level aggregation that needs no collection: ``$documents`` (MongoDB 6.0+,
#: FerretDB 2) yields one document, to which the store adds its time.
_NOW_PIPELINE: Final[list[dict[str, Any]]] = [
    {"$documents": [{}]},
    {"$project": {"_id": 0, "now": "$$NOW"}},
]


async def store_now(db: AsyncDatabase[dict[str, Any]]) -> datetime:
    """The store's current time (aware, UTC); ``StoreError`` if the store cannot say."""
    try:
        cursor = await db.aggregate(_NOW_PIPELINE)
        found = await cursor.to_list()
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot read the store's clock: {exc}") from exc
    now = stored_time(found[0].get("now") if found else None)
    if now is None:
        raise StoreError(f"the store did not tell its time (it answered {found!r})")
    return now
