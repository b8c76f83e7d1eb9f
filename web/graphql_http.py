"""The GraphQL endpoint: GraphQL over HTTP on top of Strawberry's ASGI view, plus WebSockets.

Strawberry does the parsing and execution; this subclass adds what the GraphQL-over-HTTP
specification and our clients need around it:

* content negotiation: ``application/graphql-response+json`` when accepted (400 for a
  document that does not parse or validate, and no ``data`` entry), else ``application/json``
  with 200 for every well-formed request; 406 when neither is acceptable;
* 415 for a POST body that is not JSON, 405 (with ``Allow``) for other methods and for a
  mutation sent with GET, 413 for a body over ``MAX_BODY_BYTES``, 408 (and the connection
  closed) for a body that sends nothing for ``REQUEST_BODY_TIMEOUT_SECONDS``;
* 401 with ``WWW-Authenticate`` for a token that fails verification (no token at all is
  anonymous: data fields then answer UNAUTHENTICATED, introspection still works);
* every refusal is a GraphQL-shaped JSON body whose errors carry ``extensions.code``;
* a client gone before its body arrived gets nothing, and is logged at DEBUG only;
* browsers (``Accept: text/html``) get the offline GraphiQL page (``web.graphiql``).

WebSocket upgrades on the same path go to Strawberry's graphql-transport-ws and graphql-ws
handlers, or to the handler classes ``web.live`` provides (see ``use_live``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from entitlements.caller import Caller
from entitlements.errors import AuthenticationError, SigningKeysUnavailableError
from entitlements.tokens import TokenVerifier
from graph.context import GraphContext
from web.admission import RETRY_AFTER_SECONDS, Lane, LaneFull
from web.auth import authenticate
from web.error_codes import ErrorCode, is_request_error, retry_later
from web.graphiql import inline_styles
from web.headers import page_headers, private_response
from web.limits import client_of
from web.negotiation import JSON, choose_response_type, is_json_body, prefers_html
from web.operation_admission import requests_refused
from web.operation_payload import payload_refusal, unknown_operation
from web.persisted import PersistedQueryError, persisted_document, with_document_id
from web.prepared import PreparedOperations
from web.settings import Settings

logger = logging.getLogger("web.graphql")

_REQUEST_ERROR = "portal.request_error"
#: Set on the scope when the request was refused only for now (no place in
#: ``web.admission``'s lane: 429; the validation worker died: 503): (status, seconds to
#: wait), sent with ``Retry-After``.
_RETRY_LATER = "portal.retry_later"


class Refusal(Exception):
    """The HTTP request is refused before or instead of execution; becomes a JSON response."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = ErrorCode.BAD_REQUEST,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        #: More of ``extensions`` beside the code (a limit's name and value).
        self.details = dict(details or {})

    @classmethod
    def of_error(
        cls, status: int, error: GraphQLError, headers: Mapping[str, str] | None = None
    ) -> Refusal:
        """``error`` (a coded refusal built for any transport) as this HTTP response."""
        details = dict(error.extensions or {})
        return cls(status, error.message, details.pop("code"), headers, details)


class _BodyTooLarge(Exception):
    pass


class _BodyStalled(Exception):
    pass


def _limited_receive(receive: Receive, limit: int, stall_seconds: float) -> Receive:
    """Counts body bytes as they arrive and stops reading past ``limit`` (no buffering
    first); and gives up on a body that sends nothing for ``stall_seconds``, which uvicorn
    would wait for as long as the client stays connected (half a body, then nothing, held a
    request for ever). Only until the body is complete: after it, ``receive`` waits for the
    client to leave (a streamed response listens for that), which takes what it takes."""
    seen = 0
    complete = False

    async def wrapped() -> Message:
        nonlocal seen, complete
        if complete:
            return await receive()
        try:
            async with asyncio.timeout(stall_seconds):
                message = await receive()
        except TimeoutError:
            raise _BodyStalled from None
        if message["type"] != "http.request":
            complete = True
            return message
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _BodyTooLarge
        complete = not message.get("more_body", False)
        return message

    return wrapped


def _client_gone(request: Request) -> None:
    """The client closed its connection before its whole body arrived: nobody is left to
    answer and nothing went wrong here, so no response and no error. Until session 18 the
    ``ClientDisconnect`` escaped the app: uvicorn logged "Exception in ASGI application"
    with a traceback at ERROR and the response was counted as a 500 (the 5xx-ratio alert's
    input), for a mobile client that merely lost its network."""
    logger.debug(
        "client disconnected before its request body arrived: %s %s",
        request.method,
        request.url.path,
    )


def _lower_content_type(scope: Scope) -> Scope:
    """The scope with its ``Content-Type`` in lower case: media types and charset names are
    case-insensitive (RFC 9110 8.3.1), but Strawberry looks for ``application/json`` as is."""
    headers = scope.get("headers") or []
    if not any(name == b"content-type" for name, _ in headers):
        return scope
    lowered = [
        (name, value.lower() if name == b"content-type" else value) for name, value in headers
    ]
    return {**scope, "headers": lowered}


_PLAIN_KEYS: Final = frozenset({"query", "variables", "operationName", "extensions"})


def plain_request(body: bytes) -> GraphQLRequestData | None:
    """The request data of a JSON body holding one operation by its text, with nothing
    Strawberry's view would refuse or treat specially; None for anything else (not UTF-8
    JSON orjson reads, a batch, a ``documentId``, a member of the wrong type...), which
    the view then parses and, if need be, refuses with its own words."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= _PLAIN_KEYS:
        return None
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    if type(query) is not str or not (variables is None or type(variables) is dict):
        return None
    if not (name is None or type(name) is str):
        return None
    if not (extensions is None or type(extensions) is dict):
        return None
    return GraphQLRequestData(query, variables, name, extensions, "http")


#: The query parameters by which a GET names an operation: its text, a persisted document's
#: id, or an APQ hash (in ``extensions``).
_OPERATION_PARAMETERS: Final = ("query", "documentId", "extensions")


def _names_operation(request: Request) -> bool:
    """Whether a GET names an operation to run; a browser's GET that names none is a visit
    to GraphiQL. One naming a persisted operation runs whatever its ``Accept`` says, as one
    with ``query`` does (it served the GraphiQL page to a browser until session 19)."""
    return any(name in request.query_params for name in _OPERATION_PARAMETERS)


def _wants_stream(accept: str | None) -> bool:
    """Whether ``Accept`` names a streamed transport Strawberry's view would choose."""
    return accept is not None and ("multipart/mixed" in accept or "text/event-stream" in accept)


def _named_operation(data: GraphQLRequestData) -> GraphQLRequestData:
    """``data`` without an ``operationName`` that is the empty string. GraphQL over HTTP: an
    empty ``operationName`` "is equivalent to omitting" it (a GET built with URLSearchParams
    sends ``operationName=`` for an anonymous operation); no operation can be named so, and
    graphql-core would look for one ("Unknown operation named ''", a 400)."""
    if data.operation_name != "":
        return data
    return dataclasses.replace(data, operation_name=None)


class GraphQLEndpoint(GraphQL[GraphContext, None]):
    """One instance per app; per-request state lives in the request scope, never on ``self``."""

    def __init__(
        self,
        schema: BaseSchema,
        settings: Settings,
        page_html: str,
        prepared: PreparedOperations | None = None,
        *,
        in_flight: Lane,
    ) -> None:
        """``prepared``: the lean path for known documents (``web.prepared``); None runs
        every request through Strawberry's ``Schema.execute``. ``in_flight``: the process's
        requests lane, which its WebSocket operations share
        (``web.operation_admission.OperationLanes``)."""
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            allowed_origins=settings.cors_origins,
            connection_init_wait_timeout=timedelta(seconds=settings.live.init_timeout_seconds),
        )
        self.settings = settings
        self.prepared = prepared
        self.page_html = page_html
        self.page_headers = dict(page_headers(inline_styles(page_html)))
        #: Queries and mutations running now in this process, over HTTP and WebSocket, in all
        #: and per client (``MAX_REQUESTS_IN_FLIGHT``, ``MAX_REQUESTS_PER_CLIENT``).
        self.in_flight = in_flight

    def use_live(self, live: object) -> None:
        """Adopt the WebSocket handler classes ``web.live`` offers, if it offers any.

        The object ``web.live.lifespan`` yields may carry ``graphql_transport_ws_handler_class``
        and/or ``graphql_ws_handler_class`` (subclasses of Strawberry's handlers, e.g. adding
        server pings and authentication from ``connection_init``).
        """
        for name in ("graphql_transport_ws_handler_class", "graphql_ws_handler_class"):
            handler = getattr(live, name, None)
            if handler is not None:
                setattr(self, name, handler)

    # --- ASGI entry ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        limits = self.settings.limits
        scope = _lower_content_type(scope)
        stall = self.settings.request_body_timeout_seconds
        request = Request(scope, _limited_receive(receive, limits.max_body_bytes, stall))
        response_type = choose_response_type(request.headers.get("accept")) or JSON
        try:
            response = await self._respond(request)
        except ClientDisconnect:
            _client_gone(request)
            return
        except Refusal as refusal:
            response = self._refusal_response(request, refusal, response_type)
        except _BodyTooLarge:
            too_large = Refusal(413, f"The request body exceeds {limits.max_body_bytes} bytes.")
            response = self._refusal_response(request, too_large, response_type)
        except _BodyStalled:
            # Closed after the answer: uvicorn would otherwise go on reading the rest of
            # the body, whenever it comes, on a connection whose client has stalled.
            stalled = Refusal(
                408,
                f"The request body sent nothing for {stall:g} seconds.",
                headers={"Connection": "close"},
            )
            response = self._refusal_response(request, stalled, response_type)
        if not isinstance(response, HTMLResponse):
            private_response(response)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        method = request.method
        if method not in ("GET", "POST"):
            raise Refusal(405, "GraphQL requests use GET or POST.", headers={"Allow": "GET, POST"})
        accept = request.headers.get("accept")
        if method == "GET" and prefers_html(accept) and not _names_operation(request):
            return await self.render_graphql_ide(request)
        response_type = choose_response_type(accept)
        if response_type is None:
            raise Refusal(
                406,
                "Accept must allow application/graphql-response+json or application/json.",
            )
        if method == "POST":
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit():
                if int(declared) > self.settings.limits.max_body_bytes:
                    raise _BodyTooLarge
            if not is_json_body(request.headers.get("content-type")):
                raise Refusal(415, "POST bodies must be application/json (UTF-8).")
            plain = await self._plain_post(request)
            if plain is not None:
                return self._finish(request, plain, response_type)
        try:
            response = await self.run(request)
        except HTTPException as exc:  # Strawberry's refusals: bad JSON, no query, batching...
            raise Refusal(exc.status_code, exc.reason) from exc
        return self._finish(request, response, response_type)

    async def _plain_post(self, request: Request) -> Response | None:
        """The response to a POST of one operation in a plain JSON body, run without
        Strawberry's HTTP view (which parses the body twice and builds a sub-response, an
        adapter and a content-type parse per request: most of the 15 % of a tracking
        lookup's CPU spent before execution); None for anything else, which the view
        serves (and refuses) as before: a body ``plain_request`` does not take, a streamed
        response asked for in ``Accept``, or no lean path (``prepared``) configured.

        What runs is what the view runs: ``get_context``, then ``execute_single`` (admission,
        persisted operations, the lean path or ``Schema.execute``), ``process_result``, and
        a JSON response with no headers of its own (the view adds those of a sub-response,
        which nothing here sets)."""
        if self.prepared is None or _wants_stream(request.headers.get("accept")):
            return None
        data = plain_request(await request.body())
        if data is None:
            return None
        context = await self.get_context(request, None)
        adapter = self.request_adapter_class(request)
        result = await self.execute_single(request, adapter, None, context, None, data)
        body = await self.process_result(request, result)
        return Response(self.encode_json(body), media_type=JSON)

    def _finish(self, request: Request, response: Response, response_type: str) -> Response:
        if response.media_type != JSON:
            return response  # the GraphiQL page, or a streamed response
        response.headers["content-type"] = f"{response_type}; charset=utf-8"
        retry = request.scope.get(_RETRY_LATER)
        if retry is not None:  # whatever the media type: the request itself was refused
            response.status_code, wait = retry
            response.headers["retry-after"] = str(wait)
        elif response_type != JSON and request.scope.get(_REQUEST_ERROR):
            response.status_code = 400
        return response

    def _refusal_response(self, request: Request, refusal: Refusal, response_type: str) -> Response:
        metrics = getattr(request.app.state, "metrics", None) if "app" in request.scope else None
        if metrics is not None:
            metrics.count_error(str(refusal.code))
        extensions = {"code": refusal.code, **refusal.details}
        body = {"errors": [{"message": refusal.message, "extensions": extensions}]}
        return Response(
            json.dumps(body, separators=(",", ":")),
            status_code=refusal.status,
            headers=refusal.headers,
            media_type=f"{response_type}; charset=utf-8",
        )

    # --- Strawberry hooks ---------------------------------------------------------------

    async def get_context(self, request: Request | WebSocket, response: Any) -> GraphContext:
        state = request.app.state
        if isinstance(request, WebSocket):
            # Browsers cannot set headers on a WebSocket: the token comes in connection_init,
            # which web.live's handlers verify; until then the connection has no caller.
            caller = None
        else:
            caller = await self._authenticate(request, state.verifier)
        return GraphContext.build(
            state.db,
            state.policy,
            caller,
            state.audit,
            request,
            collections=state.collections,
            stale_after=timedelta(seconds=self.settings.stale_after_seconds),
            pointer=state.pointer,
            store_max_time_ms=self.settings.store_max_time_ms,
            live=state.live,
        )

    async def _authenticate(self, request: Request, verifier: TokenVerifier) -> Caller | None:
        try:
            return await authenticate(request.headers.get("authorization"), verifier)
        except SigningKeysUnavailableError as exc:
            raise Refusal(503, str(exc), ErrorCode.UNAUTHENTICATED, {"Retry-After": "5"}) from exc
        except AuthenticationError as exc:
            # RFC 6750 3: the description is a quoted string of printable ASCII, no quotes.
            description = re.sub(r'[^\x20-\x7e]|["\\]', "'", str(exc))
            challenge = (
                f'Bearer realm="portal", error="invalid_token", error_description="{description}"'
            )
            raise Refusal(
                401, str(exc), ErrorCode.UNAUTHENTICATED, {"WWW-Authenticate": challenge}
            ) from exc

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's, after checking that a POST body is a JSON object (Strawberry 0.341
        fails with an AttributeError, a 500, on a body such as ``"text"`` or ``42``)."""
        raw: object = request.query_params
        if request.method == "POST":
            raw = body = self.parse_json(await request.get_body())  # cached: parsed again below
            if not isinstance(body, dict | list):
                raise HTTPException(
                    400, "The request body must be a JSON object with a `query` member."
                )
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return data
        try:
            return with_document_id(data, raw)
        except PersistedQueryError as exc:
            raise HTTPException(400, exc.message) from exc

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Never here: ``_respond`` already served the page to browsers, and a GET naming a
        persisted operation (no ``query``) must run whatever its Accept header says."""
        return False

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.page_html, headers=self.page_headers)

    def decode_json(self, data: str | bytes) -> object:
        """``json.loads``, with every way it can fail reported as bad JSON (a 400, or close
        code 4400 on a WebSocket): invalid UTF-8, nesting deeper than the parser's recursion
        limit, an integer of more than 4,300 digits."""
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("not valid UTF-8", "", exc.start) from exc
        except RecursionError as exc:
            raise json.JSONDecodeError("nested too deeply", "", 0) from exc
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from exc

    def encode_json(self, data: object) -> str:
        """orjson: several times faster than ``json.dumps`` on a page of 20 orders, the same
        compact JSON (results hold only JSON types). A string, not bytes, because Strawberry
        sends bytes over a WebSocket as binary frames, which GraphQL clients do not read.

        An integer beyond 64 bits is JSON too, but orjson refuses it (a 500, and no message
        at all over a WebSocket): such a response is written by ``json.dumps``. Our own
        refusals bound their numbers (``web.limits.MAX_REPORTED``); this is the net under
        any other."""
        try:
            return orjson.dumps(data).decode()
        except orjson.JSONEncodeError:  # what json.dumps cannot write either, it refuses
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def parse_json(self, data: str | bytes) -> Any:
        """A request body: bad JSON is a 400 that says so (``_decoded``)."""
        return self._decoded(data, "The request body")

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """A GET's parameters, ``variables`` and ``extensions`` decoded as Strawberry does, a
        bad one named in its 400 (Strawberry decodes them with ``parse_json``, whose message
        would speak of a request body the GET does not have)."""
        parsed: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            if parsed.get(name):
                parsed[name] = self._decoded(parsed[name], f"The `{name}` query parameter")
        return parsed

    def _decoded(self, data: str | bytes, what: str) -> Any:
        try:
            return self.decode_json(data)
        except json.JSONDecodeError as exc:
            raise HTTPException(400, f"{what} is not valid JSON: {exc.msg}.") from exc

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response | None,
        context: GraphContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, except for which operations HTTP may carry and how refusals read.

        A mutation over GET is 405 (the spec), not 400. A subscription over HTTP is refused
        with a pointer to the WebSocket protocols: Strawberry would try to execute it as a
        query and fail with an internal error. A client (token subject, else address) with
        ``MAX_REQUESTS_PER_CLIENT`` operations running in this process already (over HTTP
        or WebSocket), or a process running ``MAX_REQUESTS_IN_FLIGHT``, is refused at once,
        before anything is parsed: 429 with ``Retry-After``.
        """
        client = client_of(context)
        try:
            self.in_flight.enter(client)
        except LaneFull as full:
            retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            raise Refusal.of_error(429, requests_refused(full), retry) from None
        try:
            return await self._execute_admitted(
                request, request_adapter, context, root_value, _named_operation(request_data)
            )
        finally:
            self.in_flight.leave(client)
            context.close()

    async def _execute_admitted(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        context: GraphContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        unusable = payload_refusal({"operationName": request_data.operation_name})
        if unusable is not None:
            raise Refusal.of_error(400, unusable)
        try:
            query = persisted_document(request, context.caller, request_data)
        except PersistedQueryError as exc:
            if exc.code == ErrorCode.BAD_REQUEST:
                # A hash not matching its text, a malformed ``persistedQuery``, a
                # ``documentId`` beside a ``query``: a request no server can run, 400 under
                # any Accept as Apollo Server and Router answer it (and as every other
                # BAD_REQUEST here); an unknown hash or id stays a GraphQL response.
                raise Refusal(400, exc.message) from exc
            return ExecutionResult(data=None, errors=[exc.graphql_error()])
        if self.prepared is not None:
            name, variables = request_data.operation_name, request_data.variables
            prepared = self.prepared.prepare(query, name, variables, allowed)
            if prepared is not None:
                return await self.prepared.execute(
                    prepared, context, variables, name, request_data.extensions
                )
        try:
            return await self.schema.execute(
                query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise Refusal(
                    400,
                    "Subscriptions are served over WebSocket on this path "
                    "(graphql-transport-ws or graphql-ws), not over HTTP.",
                ) from exc
            if method == "GET":
                raise Refusal(
                    405, "Mutations must be sent with POST.", headers={"Allow": "POST"}
                ) from exc
            raise Refusal(400, exc.as_http_error_reason(method)) from exc
        except CannotGetOperationTypeError as exc:
            raise Refusal(400, unknown_operation(exc)) from exc
        except MissingQueryError as exc:
            raise Refusal(400, "The request has no GraphQL query.") from exc

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        errors = result.errors or []
        if is_request_error(errors, result.data):
            request.scope[_REQUEST_ERROR] = True
            retry = retry_later(errors)
            if retry is not None:
                request.scope[_RETRY_LATER] = retry
            response: GraphQLHTTPResponse = {"errors": [e.formatted for e in errors]}
        else:
            response = {"data": result.data}
            if errors:
                response["errors"] = [e.formatted for e in errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response
