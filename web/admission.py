"""Places in a bounded lane of costly work, shared fairly between clients (pure logic).

The API process validates a new large document in a worker process (``web.validation_pool``);
the lane bounds how many such documents may wait or run at once, in total and per client, so
that one client sending a stream of novel documents cannot queue seconds of work ahead of
everybody else's. A request that finds no place is refused at once (``LaneFull``; HTTP 429
with ``Retry-After``) instead of waiting: a refusal costs microseconds, a queue costs every
later request its length.

The counts live in this process only. Nothing is shared between API processes, so they stay
stateless and any number can run behind a load balancer; the bound a client meets is per
process, which is what protects that process's event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class LaneFull(Exception):
    """No place in the lane for this client now; ``per_client`` tells which bound it met."""

    per_client: bool
    allowed: int

    def __str__(self) -> str:
        if self.per_client:
            return f"this client already has {self.allowed} new documents being checked"
        return f"{self.allowed} new documents are already being checked"


class Lane:
    """At most ``total`` holders at once, at most ``per_client`` of them with one key."""

    def __init__(self, total: int, per_client: int) -> None:
        if total < 1 or per_client < 1:
            raise ValueError("a lane needs at least one place, in total and per client")
        self.total = total
        self.per_client = min(per_client, total)
        self._held: Counter[Hashable] = Counter()

    @property
    def in_use(self) -> int:
        return self._held.total()

    def enter(self, client: Hashable) -> None:
        """Take a place for ``client`` or raise ``LaneFull`` (the per-client bound first: it
        is the one that client can do something about)."""
        if self._held[client] >= self.per_client:
            raise LaneFull(per_client=True, allowed=self.per_client)
        if self.in_use >= self.total:
            raise LaneFull(per_client=False, allowed=self.total)
        self._held[client] += 1

    def leave(self, client: Hashable) -> None:
        if self._held[client] <= 0:
            raise ValueError(f"{client!r} holds no place in the lane")
        self._held[client] -= 1
        if not self._held[client]:
            del self._held[client]
