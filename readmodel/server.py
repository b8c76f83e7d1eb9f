"""Which server the store is: the one question both the writer and the readers ask of it.

FerretDB (DocumentDB over PostgreSQL) plans queries as PostgreSQL does: a sort index needs
DocumentDB's ordered-index option (``ProjectionStore.ensure_indexes``), and a sorted, limited
read gathers every index entry of its range before the limit applies, so first pages are
found by probes (``resolvers.paging_windows.EdgeSearch``). MongoDB refuses the option and
reads a sorted page in index order, stopping at the limit: it needs neither. FerretDB says
what it is in ``buildInfo`` (a ``ferretdb`` field with its version); MongoDB has no such
field. A server built on DocumentDB that does not say so is taken for MongoDB: correct
answers, slower cold first pages (docs/store.md, "probes").
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def is_ferretdb(db: AsyncDatabase[Any]) -> bool:
    """Whether ``db``'s server is FerretDB (one ``buildInfo`` round trip)."""
    return "ferretdb" in await db.command("buildInfo")
