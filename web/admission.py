"""Places in a bounded lane of costly work, shared fairly between clients; whose place a
caller takes (``caller_key``) and the refusal that waiting mends (``refused_for_now``).

The API process validates a new large document in a worker process (``web.validation_pool``);
the lane bounds how many such documents may wait or run at once, in total and per client, so
that one client sending a stream of novel documents cannot queue seconds of work ahead of
everybody else's. A request that finds no place is refused at once (``LaneFull``; HTTP 429
with ``Retry-After``) instead of waiting: a refusal costs microseconds, a queue costs every
later request its length. The operations running at once (HTTP and WebSocket alike) and the
subscriptions open at once are bounded by lanes too (``web.operation_admission``), and so
are the replays of the change log that resumed subscriptions read (``web.live.replays``).

The counts live in this process only. Nothing is shared between API processes, so they stay
stateless and any number can run behind a load balancer; the bound a client meets is per
process, which is what protects that process's event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

from graphql import GraphQLError

from entitlements.caller import Caller
from web.error_codes import ErrorCode

#: What a RATE_LIMITED refusal asks the client to wait: about the time the lane takes to
#: drain, rounded up to the unit ``Retry-After`` speaks.
RETRY_AFTER_SECONDS: Final = 1


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
    """At most ``total`` holders at once, at most ``per_client`` of them with one key; a
    ``total`` of None bounds each client only."""

    def __init__(self, total: int | None, per_client: int) -> None:
        if (total is not None and total < 1) or per_client < 1:
            raise ValueError("a lane needs at least one place, in total and per client")
        self.total = total
        self.per_client = per_client if total is None else min(per_client, total)
        self._held: Counter[Hashable] = Counter()

    @property
    def in_use(self) -> int:
        return self._held.total()

    def enter(self, client: Hashable) -> None:
        """Take a place for ``client`` or raise ``LaneFull`` (the per-client bound first: it
        is the one that client can do something about)."""
        if self._held[client] >= self.per_client:
            raise LaneFull(per_client=True, allowed=self.per_client)
        if self.total is not None and self.in_use >= self.total:
            raise LaneFull(per_client=False, allowed=self.total)
        self._held[client] += 1

    def leave(self, client: Hashable) -> None:
        if self._held[client] <= 0:
            raise ValueError(f"{client!r} holds no place in the lane")
        self._held[client] -= 1
        if not self._held[client]:
            del self._held[client]


def caller_key(caller: Caller) -> Hashable:
    """The per-client key of an authenticated caller: its token subject, whichever transport
    (HTTP, or the WebSocket connection it authenticated) it comes by."""
    return ("subject", caller.subject)


@dataclass(frozen=True)
class LaneRefusal:
    """The words of one lane's RATE_LIMITED refusal, e.g. "1 new query document from this
    client is already being checked (the limit, DOCUMENT_CHECK_PER_CLIENT); <advice>", naming
    the bound met: the client's (``per_client_setting``) or the process's."""

    one: str
    many: str
    doing: str
    per_client_setting: str
    total_setting: str
    advice: str
    whose: str = "of this client"

    def of(self, full: LaneFull) -> GraphQLError:
        if full.per_client:
            setting, whose = self.per_client_setting, f" {self.whose}"
        else:
            setting, whose = self.total_setting, ""
        held, are = (self.one, "is") if full.allowed == 1 else (self.many, "are")
        return refused_for_now(
            f"{full.allowed} {held}{whose} {are} {self.doing} (the limit, {setting}); "
            f"{self.advice}",
            ErrorCode.RATE_LIMITED,
            limit=setting,
            allowed=full.allowed,
        )


def refused_for_now(message: str, code: ErrorCode, **details: object) -> GraphQLError:
    """A refusal that waiting mends: ``message``, ``code`` and ``details`` (the limit's
    setting and allowance), with the ``retryAfter`` every such refusal carries (HTTP also
    sends it as ``Retry-After``)."""
    return GraphQLError(
        message, extensions={"code": code.value, **details, "retryAfter": RETRY_AFTER_SECONDS}
    )
