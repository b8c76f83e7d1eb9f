"""uvicorn's httptools protocol with the two bounds it lacks on reading a request's head.

uvicorn (with httptools, as ``python -m web`` runs it) reads a request line and headers for
as long and as large as a client sends them: a client sending its headers a byte at a time
(slowloris) held its connection until it left, and 400,000 headers (40 MB) were read whole
and answered while the process grew by 100 MB (session 19). ``protocol_for`` gives
``uvicorn.run(http=...)`` a subclass of ``HttpToolsProtocol`` that, per connection:

* refuses a head (request line and headers) over ``REQUEST_HEADER_MAX_BYTES`` with 431 and
  closes the connection, having handed the parser no more than that many bytes of it;
* closes a connection whose head is not complete ``REQUEST_HEADER_TIMEOUT_SECONDS`` after
  it opened or after the head's first byte arrived (with 408 if it sent part of a head and
  no response is being written; a connection that sent nothing is just closed). Between
  requests, an idle keep-alive connection keeps uvicorn's own timeout (5 s).

Each refusal is logged at INFO and counted (``protocol_for``'s ``count``, the process's
``portal_http_request_heads_refused_total`` by ``HeadRefusal``): the app never sees these
requests, so ``portal_http_responses_total`` does not count them.

A body that stalls is the application's to bound (``web.graphql_http``): it is read there.

The uvicorn internals this relies on (uvicorn is pinned in ``constraints.txt``; the unit test
``test_web_request_head`` fails if any is gone, the process tests in
``tests/integration/test_http_process.py`` if their behaviour changed):

* ``HttpToolsProtocol(config, server_state, app_state, _loop)``: how uvicorn's server builds
  the protocol of each connection from ``Config.http``;
* ``data_received``: every byte read from the socket, before ``self.parser.feed_data``;
* ``on_headers_complete`` / ``on_message_complete``: httptools parser callbacks, looked up on
  the protocol when its ``__init__`` builds the parser (so overriding them here works);
  WebSocket upgrades pass through ``on_headers_complete`` too, then the transport is given to
  the WebSocket protocol (``transport.set_protocol``), which this one no longer sees;
* ``connection_made`` / ``connection_lost``; ``self.transport``, ``self.loop``,
  ``self.server_state.default_headers`` (uvicorn's ``server`` and ``date`` headers), and
  ``self.cycle`` (the request being answered: ``response_complete``, ``keep_alive``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Literal

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

logger = logging.getLogger("web.request_head")


#: Why a connection was refused before its request reached the app: its head was over the
#: size limit (answered 431), not complete in time (408), or never begun in time (closed,
#: no answer).
HeadRefusal = Literal["too_large", "timeout", "nothing_sent"]


@dataclass(frozen=True)
class HeadLimits:
    """``REQUEST_HEADER_MAX_BYTES`` and ``REQUEST_HEADER_TIMEOUT_SECONDS``."""

    max_bytes: int
    timeout_seconds: float


class HeadBoundedProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` bounding the size of a request head and the time to read it."""

    limits: ClassVar[HeadLimits]
    #: Called once per refused connection (a class's, so a plain function is kept as is).
    count_refusal: ClassVar[staticmethod[[HeadRefusal], None]]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        #: Bytes of the head being read, fed to the parser since the last head completed
        #: (bytes arriving in the same read as the end of a body are not counted: a
        #: pipelined head may pass the limit by at most one read of the socket).
        self._head_bytes = 0
        #: Between a head's end and its message's end: bytes are body, not head.
        self._in_body = False
        self._heads_completed = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # uvicorn would wait for ever for a first request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_body:
            super().data_received(data)
            return
        if self._head_timer is None:  # the first byte after an idle keep-alive wait
            self._arm()
        room = self.limits.max_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # The head may end within this read, a body or the next request following it: the
        # parser gets the part the limit allows, and the rest only if the head ended there.
        heads = self._heads_completed
        self._head_bytes += room
        super().data_received(data[:room])
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # refused as malformed, or upgraded to WebSocket
        if self._heads_completed == heads:
            self._refuse("too_large", HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return
        self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_body = True
        self._head_bytes = 0
        self._heads_completed += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.timeout_seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The previous request's response is still being written: the connection
            # closes once it is (what uvicorn's own ``shutdown`` does).
            self.cycle.keep_alive = False
        elif self._head_bytes:
            self._refuse("timeout", HTTPStatus.REQUEST_TIMEOUT)
        else:
            self.count_refusal("nothing_sent")
            self.transport.close()

    def _refuse(self, reason: HeadRefusal, status: HTTPStatus) -> None:
        """Answer ``status`` with a plain-text message (as uvicorn answers a malformed
        request with 400: the app never sees the request), count it and close the
        connection."""
        message = _MESSAGES[reason]
        logger.info("%s from %s", message, self.client[0] if self.client else "unknown")
        self.count_refusal(reason)
        body = message.encode("ascii")
        lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode("ascii")]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode("ascii"),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()


_MESSAGES: dict[HeadRefusal, str] = {
    "too_large": "Request head too large.",
    "timeout": "Request head not received in time.",
}


def protocol_for(
    limits: HeadLimits, count: Callable[[HeadRefusal], None]
) -> type[HeadBoundedProtocol]:
    """The protocol class to give uvicorn (``http=``): uvicorn builds one per connection
    from the class alone, so the limits and the refusals' counter travel as class
    attributes."""

    class Configured(HeadBoundedProtocol):
        pass

    Configured.limits = limits
    Configured.count_refusal = staticmethod(count)
    return Configured
