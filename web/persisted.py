"""Trusted documents: persisted operations, loaded at start-up, and Apollo's automatic ones.

Portal apps ship fixed operations. Listing them (``PERSISTED_OPERATIONS_FILE``) lets a
deployment accept only those from the roles the entitlement policy does not allow to send
free-form documents (``Policy.may_send_free_form``), the way Hasura's allow-list and Apollo
Router's persisted query lists work. A request names an operation in one of two ways:

* ``documentId`` (GraphQL over HTTP's persisted documents draft): the id the manifest gives,
  e.g. Relay's md5 or Apollo's sha256 (also as ``sha256:<hex>``);
* ``extensions.persistedQuery.sha256Hash`` (Apollo's automatic persisted queries, APQ): the
  sha256 of the text. A hash the server does not know is answered with
  ``PERSISTED_QUERY_NOT_FOUND``; the client retries with hash and text, and a caller allowed
  free-form documents has the pair remembered in a bounded LRU (``PERSISTED_QUERY_CACHE_SIZE``)
  of this process, so the next request can send the hash alone. A remembered text is known
  only to callers of the same entitlements (``Audience``: customers and roles, who see the
  same data): whether the server knows a hash must not tell one customer what another sent.

Two manifest formats are read, those the toolchains emit: Apollo's persisted query manifest
(``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "name", "type",
"body"}]}``) and Relay's ``persistConfig`` output (a JSON object of id -> text). Every listed
operation is parsed and validated against the schema once, at load, and pinned in the app's
``DocumentCache``, so requests that name it skip both (the per-request limits still apply,
in ``web.limits``). A manifest with an operation that does not validate stops start-up,
naming the file and the operation.

A listed operation's own text, sent in full, is accepted from every caller: it is the same
operation. Everything else from a caller without free-form permission is refused with
``PERSISTED_QUERY_REQUIRED``.

::

    PersistedQueryError                 (code)
    ├── PERSISTED_QUERY_NOT_FOUND       unknown documentId or hash: send the text (APQ) or
    │                                   ship the operation in the manifest
    ├── PERSISTED_QUERY_REQUIRED        a free-form document from a caller that may only run
    │                                   listed operations
    └── BAD_REQUEST                     malformed persistedQuery, hash not matching the text,
                                        documentId together with a query
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

from graphql import GraphQLError, GraphQLSchema
from starlette.requests import Request
from strawberry.http import GraphQLRequestData

from caching.bounded_lru import BoundedLRU
from entitlements.caller import Caller
from entitlements.errors import ConfigurationError
from entitlements.policy import Policy
from readmodel.quoting import ECHOED_CHARACTERS, quoted
from web.document_cache import DocumentCache

PERSISTED_QUERY_NOT_FOUND: Final = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_REQUIRED: Final = "PERSISTED_QUERY_REQUIRED"
BAD_REQUEST: Final = "BAD_REQUEST"

APOLLO_FORMAT: Final = "apollo-persisted-query-manifest"
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryError(Exception):
    """A request naming (or lacking) a persisted operation cannot run; ``code`` goes to the
    client in ``extensions.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def graphql_error(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code})


@dataclass(frozen=True)
class Operation:
    """One listed operation: the id clients send, its name (for messages) and its text."""

    id: str
    text: str
    name: str | None = None


@dataclass(frozen=True)
class DocumentRequest:
    """What a request says about its document, whatever the transport."""

    query: str | None
    document_id: str | None = None
    extensions: Mapping[str, Any] | None = None


@dataclass
class PersistedRequestData(GraphQLRequestData):
    """Strawberry's request data plus ``documentId``, which Strawberry does not read."""

    document_id: str | None = None


def with_document_id(data: GraphQLRequestData, raw: object) -> GraphQLRequestData:
    """``data`` carrying the ``documentId`` of the raw request (JSON body or query params)."""
    document_id = raw.get("documentId") if isinstance(raw, Mapping) else None
    if document_id is None:
        return data
    if not isinstance(document_id, str) or not document_id.strip():
        raise PersistedQueryError(BAD_REQUEST, "`documentId` must be a non-empty string.")
    # Every field of Strawberry's request data, so one a new version adds is carried too.
    copied = {field.name: getattr(data, field.name) for field in fields(GraphQLRequestData)}
    return PersistedRequestData(**copied, document_id=document_id)


def sha256_hex(text: str) -> str:
    """The hash clients name a text by. A text that is not valid Unicode (a lone surrogate
    from a JSON ``\\ud800`` escape) still hashes, so that it is refused by the checks that say
    what is wrong with it (no manifest holds it; validation names the surrogate), not by a
    codec error."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- manifests (pure, then the file) -------------------------------------------------------


def parse_manifest(data: Any, origin: str) -> list[Operation]:
    """The operations of a decoded manifest in either format; ``ConfigurationError`` naming
    ``origin`` and the entry otherwise."""

    def bad(problem: str) -> ConfigurationError:
        return ConfigurationError(f"{origin}: {problem}")

    if not isinstance(data, Mapping):
        raise bad("expected a JSON object (Relay: id -> text; Apollo: a persisted query manifest)")
    if "format" in data:
        if data.get("format") != APOLLO_FORMAT or data.get("version", 1) != 1:
            raise bad(f"unknown manifest format {data.get('format')!r} (expected {APOLLO_FORMAT})")
        entries = data.get("operations")
        if not isinstance(entries, list):
            raise bad("`operations` must be a list")
        operations = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise bad(f"operations[{index}] must be an object")
            op_id, body, name = entry.get("id"), entry.get("body"), entry.get("name")
            if not isinstance(op_id, str) or not op_id or not isinstance(body, str):
                raise bad(f"operations[{index}] needs a string `id` and `body`")
            operations.append(Operation(op_id, body, name if isinstance(name, str) else None))
        return operations
    operations = []
    for op_id, text in data.items():
        if not isinstance(text, str) or not op_id:
            raise bad(f"entry {op_id!r} must map a non-empty id to the operation's text")
        operations.append(Operation(op_id, text))
    return operations


def read_manifest(path: Path) -> list[Operation]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read persisted operations: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON: {exc}") from exc
    return parse_manifest(data, str(path))


# --- the registry ----------------------------------------------------------------------------


#: Who may send a remembered APQ text by its hash alone: the customers and roles of the caller
#: who registered it (None: anonymous callers). Callers who share them see the same data, so
#: the hashes they know tell them nothing new; one whose entitlements differ learns nothing
#: of what the other sent (before session 19 every caller shared one set: a caller of ACME
#: could tell whether a text naming GLOBEX's tracking number had been sent recently).
Audience = tuple[frozenset[str], frozenset[str]] | None


def audience_of(caller: Caller | None) -> Audience:
    return None if caller is None else (caller.customers, caller.roles)


class PersistedOperations:
    """The listed operations of this process, and its APQ cache. One per app."""

    def __init__(
        self,
        operations: Iterable[Operation] = (),
        *,
        apq_cache_size: int = 1000,
        apq_max_text_bytes: int | None = None,
    ) -> None:
        """``apq_max_text_bytes``: the longest APQ text remembered, in UTF-8 bytes (the
        app's ``MAX_QUERY_BYTES``: a longer one is refused by the limits, which run after
        this). Without it, texts as long as a request body were kept: a thousand of a
        megabyte each, from anonymous callers, held a gigabyte of the process."""
        self._by_id: dict[str, str] = {}
        self._by_hash: dict[str, str] = {}
        for operation in operations:
            known = self._by_id.get(operation.id)
            if known is not None and known != operation.text:
                raise ConfigurationError(
                    f"persisted operation id {operation.id!r} is listed twice with different texts"
                )
            self._by_id[operation.id] = operation.text
            self._by_hash[sha256_hex(operation.text)] = operation.text
        self._apq: BoundedLRU[tuple[Audience, str], str] = BoundedLRU(apq_cache_size)
        self._apq_max_text_bytes = apq_max_text_bytes

    @classmethod
    def load(
        cls,
        paths: Sequence[Path],
        schema: GraphQLSchema,
        documents: DocumentCache,
        *,
        apq_cache_size: int,
        apq_max_text_bytes: int | None = None,
    ) -> PersistedOperations:
        """Read every manifest, then parse and validate each operation once, pinning it in
        ``documents``. ``ConfigurationError`` names the file and operation that fails."""
        operations: list[Operation] = []
        for path in paths:
            listed = read_manifest(path)
            for operation in listed:
                label = f"{path}: operation {operation.id!r}" + (
                    f" ({operation.name})" if operation.name else ""
                )
                try:
                    checked = documents.pin(schema, operation.text)
                except GraphQLError as exc:
                    raise ConfigurationError(f"{label} does not parse: {exc.message}") from exc
                if checked.errors:
                    problems = "; ".join(e.message for e in checked.errors)
                    raise ConfigurationError(
                        f"{label} does not validate against the schema: {problems}"
                    )
            operations.extend(listed)
        return cls(operations, apq_cache_size=apq_cache_size, apq_max_text_bytes=apq_max_text_bytes)

    def __len__(self) -> int:
        return len(self._by_id)

    def remembered(self) -> int:
        """How many APQ texts the cache holds."""
        return len(self._apq)

    def document(
        self, request: DocumentRequest, *, may_send_free_form: bool, audience: Audience = None
    ) -> str | None:
        """The text to execute for ``request`` (None: it has none, Strawberry says so), from
        a caller of ``audience`` (the APQ texts it may name by hash are its audience's).

        Raises ``PersistedQueryError``; see the module docstring for the rules.
        """
        if request.document_id is not None:
            return self._by_document_id(request)
        persisted = (request.extensions or {}).get("persistedQuery")
        if persisted is not None:
            digest = _digest_of(persisted)
            return self._by_hash_of(digest, audience, request.query, may_send_free_form)
        query = request.query
        if query is None or may_send_free_form or sha256_hex(query) in self._by_hash:
            return query
        raise _required()

    def _by_document_id(self, request: DocumentRequest) -> str:
        if request.query is not None:
            raise PersistedQueryError(BAD_REQUEST, "Send either `documentId` or `query`, not both.")
        document_id = request.document_id or ""
        text = self._by_id.get(document_id)
        if text is None and document_id.startswith("sha256:"):
            text = self._by_hash.get(document_id.removeprefix("sha256:").lower())
        if text is None:
            raise PersistedQueryError(
                PERSISTED_QUERY_NOT_FOUND,
                f"No persisted operation has the documentId "
                f"{quoted(document_id, ECHOED_CHARACTERS)}: the app must ship its operations "
                "in the server's PERSISTED_OPERATIONS_FILE.",
            )
        return text

    def _by_hash_of(
        self, digest: str, audience: Audience, query: str | None, may_send_free_form: bool
    ) -> str:
        known = self._by_hash.get(digest)
        # A text registered by a caller who may send any is not listed: it is not for those
        # who may run only listed operations.
        if known is None and may_send_free_form:
            known = self._apq.get((audience, digest))
        if query is None:
            if known is None:
                raise PersistedQueryError(
                    PERSISTED_QUERY_NOT_FOUND,
                    "PersistedQueryNotFound: this server does not know the hash; send the "
                    "query text with it.",
                )
            return known
        if sha256_hex(query) != digest:
            raise PersistedQueryError(BAD_REQUEST, "The sha256Hash does not match the query.")
        if known is not None:
            return query
        if not may_send_free_form:
            raise _required()
        if self._may_remember(query):
            self._apq.put((audience, digest), query)
        return query

    def _may_remember(self, text: str) -> bool:
        """Whether ``text`` is short enough to keep (a longer one is refused anyway)."""
        limit = self._apq_max_text_bytes
        if limit is None or len(text) * 4 <= limit:  # UTF-8 takes at most 4 bytes a character
            return True
        return len(text) <= limit and len(text.encode("utf-8", "surrogatepass")) <= limit


def _digest_of(persisted: object) -> str:
    """The hash an ``extensions.persistedQuery`` names, in lower case; BAD_REQUEST unless it
    is ``{version: 1, sha256Hash: <64 hex digits>}``."""
    if (
        not isinstance(persisted, Mapping)
        or persisted.get("version") != 1
        or not isinstance(persisted.get("sha256Hash"), str)
        or not _SHA256.match(persisted["sha256Hash"].lower())
    ):
        raise PersistedQueryError(
            BAD_REQUEST,
            "extensions.persistedQuery must be {version: 1, sha256Hash: <64 hex digits>}.",
        )
    return str(persisted["sha256Hash"]).lower()


_NONE_LISTED: Final = PersistedOperations(apq_cache_size=0)


def _required() -> PersistedQueryError:
    return PersistedQueryError(
        PERSISTED_QUERY_REQUIRED,
        "Your role may run only the operations its app ships (persisted operations): send "
        "`documentId` or `extensions.persistedQuery.sha256Hash`, not a document of your own.",
    )


def document_for(state: object, caller: Caller | None, request: DocumentRequest) -> str | None:
    """The text to run for ``request`` from ``caller``, by the app's operations (``state``
    is ``app.state``) and its entitlement policy. Raises ``PersistedQueryError``."""
    operations = getattr(state, "persisted", None)
    if not isinstance(operations, PersistedOperations):
        operations = _NONE_LISTED
    policy: Policy = getattr(state, "policy", None) or Policy()
    return operations.document(
        request, may_send_free_form=policy.may_send_free_form(caller), audience=audience_of(caller)
    )


def persisted_document(
    request: Request, caller: Caller | None, data: GraphQLRequestData
) -> str | None:
    """``document_for`` an HTTP request's data (``documentId`` from ``with_document_id``)."""
    wanted = DocumentRequest(data.query, getattr(data, "document_id", None), data.extensions)
    return document_for(request.app.state, caller, wanted)


def parse_paths(raw: str) -> tuple[Path, ...]:
    """``PERSISTED_OPERATIONS_FILE``: one path, or several separated by commas (e.g. the web
    app's Relay output and the mobile app's Apollo manifest). ValueError for a missing file."""
    paths = tuple(Path(item.strip()) for item in raw.split(",") if item.strip())
    missing = [str(p) for p in paths if not p.is_file()]
    if not paths or missing:
        raise ValueError(f"no such file: {', '.join(missing) or raw!r}")
    return paths
