"""Which MongoDB collections a request reads.

The projector can rebuild every projection into a new generation (``orders__<suffix>`` ...)
and then flip the ``read_pointer`` document. A request resolves the pointer once and reads one
generation throughout, so a flip in the middle of a request never mixes generations.
The audit log is not a projection: it is never rebuilt and has no generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from readmodel import documents

#: What the readers read: the three entity projections and the per-source freshness records.
ReadKind = Literal["orders", "shipments", "invoices", "sources"]


@dataclass(frozen=True)
class CollectionNames:
    """Base names of the collections (deployments may rename them; tests isolate by database)."""

    orders: str = documents.ORDERS
    shipments: str = documents.SHIPMENTS
    invoices: str = documents.INVOICES
    sources: str = documents.SOURCES
    audit_log: str = documents.AUDIT_LOG
    read_pointer: str = documents.READ_POINTER
    search_keys: str = documents.SEARCH_KEYS

    def base(self, kind: ReadKind) -> str:
        name: str = getattr(self, kind)
        return name

    def generation(self, suffix: str) -> Generation:
        return Generation(names=self, suffix=suffix)


@dataclass(frozen=True)
class Generation:
    """The collection names of one projection generation ("" is the original one)."""

    names: CollectionNames
    suffix: str

    def of(self, kind: ReadKind) -> str:
        return documents.generation_collection(self.names.base(kind), self.suffix)

    def search_keys(self) -> str:
        """The generation's search side collection (``readmodel.search_keys``)."""
        return documents.generation_collection(self.names.search_keys, self.suffix)
