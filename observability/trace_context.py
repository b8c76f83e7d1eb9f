"""W3C Trace Context (``traceparent``), parsed and continued; pure, no I/O.

A trace id is what an operator follows from the TMS event (CloudEvents distributed tracing
extension attribute ``traceparent``) through the projector's log line and the change notice
to the API's log line and the subscription message, and from a portal's HTTP request to the
API's log line and its response. Each hop that does work of its own continues the trace
with a span id of its own (``child``); an invalid or absent header starts a new trace in
the API and is simply absent in the projector, never an error: tracing must not stop reads
or projections.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final

#: version 00: ``00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>``; later versions may
#: append fields after a dash, which we ignore (spec section 3.2.4).
_TRACEPARENT: Final = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """The same trace, continued by a span of our own."""
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags)


def parse_traceparent(value: object) -> TraceContext | None:
    """A valid ``traceparent`` value, else None (the spec says: ignore it)."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version = match["version"]
    if version == "ff" or (version == "00" and match["rest"]):
        return None
    if match["trace"] == _ZERO_TRACE or match["span"] == _ZERO_SPAN:
        return None
    return TraceContext(match["trace"], match["span"], match["flags"])


def new_trace() -> TraceContext:
    """A new trace, sampled (we do not sample: every request is logged)."""
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8), "01")
