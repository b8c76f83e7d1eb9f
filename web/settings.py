"""The API process's configuration, read once from the environment at start-up.

``load_settings`` validates every value so a bad deployment fails at boot with one message that
names each offending variable, instead of failing later on the first request that needs it.
Built directly (tests) the models read nothing from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, Field, InstanceOf, model_validator
from pydantic_settings import NoDecode

from config.env import EnvReader, EnvSettings, check_existing_file
from config.process import ProcessSettings
from config.topics import read_topic_names
from entitlements.token_env import read_token_settings
from entitlements.tokens import TokenSettings
from readmodel.topics import TopicNames
from web import operations
from web.graphiql_examples import ExampleValues
from web.live.settings import LiveSettings
from web.persisted import parse_paths

#: How often the in-memory source freshness is re-read unless configured otherwise.
DEFAULT_FRESHNESS_REFRESH_SECONDS: Final = 5.0


def _graphql_path(raw: str) -> str:
    if not raw.startswith("/") or raw == "/" or raw.endswith("/") or " " in raw:
        raise ValueError("expected an absolute path such as /graphql (no trailing slash)")
    if raw in operations.PATHS or raw.startswith("/graphiql/"):
        raise ValueError("collides with a built-in route")
    return raw


class QueryLimits(EnvSettings):
    """Bounds on what one GraphQL document may ask for; see ``web.limits``."""

    max_depth: int = Field(12, validation_alias="MAX_QUERY_DEPTH", ge=1)
    max_aliases: int = Field(30, validation_alias="MAX_ALIASES", ge=0)
    max_query_bytes: int = Field(20_000, validation_alias="MAX_QUERY_BYTES", ge=1)
    #: Lexical tokens the parser reads before it gives up (graphql-core's ``max_tokens``).
    max_tokens: int = Field(500, validation_alias="MAX_QUERY_TOKENS", ge=1)
    #: Fields, fragment spreads and inline fragments written in one document; checked before
    #: validation, whose cost grows with them (quadratically, for repeated response names).
    max_fields: int = Field(100, validation_alias="MAX_QUERY_FIELDS", ge=1)
    #: The same with every fragment spread replaced by its fragment's selections: what the
    #: document asks for (full introspection has 239), so that a few fragments spreading
    #: each other several times cannot ask for millions.
    max_expanded_fields: int = Field(1_000, validation_alias="MAX_QUERY_EXPANDED_FIELDS", ge=1)
    max_cost: int = Field(5_000, validation_alias="MAX_QUERY_COST", ge=1)
    #: Entities one request may look up by key: ``_entities`` representations and ``nodes``
    #: ids together (a federation gateway batches its lookups; each is one entity read).
    max_entity_representations: int = Field(
        100, validation_alias="MAX_ENTITY_REPRESENTATIONS", ge=1
    )
    #: Values one request's variables may hold (each variable, list item and object member):
    #: counted before anything reads them, since graphql-core coerces every one (240,000 ids
    #: in a 1 MB body took 0.4-0.8 s of the event loop). 100 ``_entities`` representations
    #: of two members each hold 301.
    max_variable_values: int = Field(2_000, validation_alias="MAX_VARIABLE_VALUES", ge=1)
    #: Validation stops after this many errors (graphql-core's default is 100).
    max_validation_errors: int = Field(10, validation_alias="MAX_VALIDATION_ERRORS", ge=1)
    #: The page size assumed for a list field that is not given ``first``.
    default_page_size: int = Field(20, validation_alias="DEFAULT_PAGE_SIZE", ge=1)
    #: Request bodies larger than this are refused before parsing (413).
    max_body_bytes: int = Field(1_000_000, validation_alias="MAX_BODY_BYTES", ge=1)

    @property
    def max_websocket_message_bytes(self) -> int:
        """The largest WebSocket message uvicorn passes on (``ws_max_size``; larger ones close
        the connection with 1009 before any JSON is parsed): ``MAX_BODY_BYTES``. A message
        carries what an HTTP body carries, one operation (a query of at most
        ``MAX_QUERY_BYTES``, its variables and extensions; or ``connection_init``'s token),
        plus an id and a type of a few dozen bytes. A lower bound would refuse over WebSocket
        what HTTP accepts; a higher one (uvicorn's default is 16 MiB) would make WebSocket the
        cheaper way to have the event loop parse JSON, before ``connection_init`` too."""
        return self.max_body_bytes

    @model_validator(mode="after")
    def _body_holds_a_query(self) -> QueryLimits:
        if self.max_body_bytes < self.max_query_bytes:
            raise ValueError(
                f"MAX_BODY_BYTES ({self.max_body_bytes}) must be at least "
                f"MAX_QUERY_BYTES ({self.max_query_bytes})"
            )
        return self

    @model_validator(mode="after")
    def _variables_hold_the_representations(self) -> QueryLimits:
        """The ``_entities`` representations ``MAX_ENTITY_REPRESENTATIONS`` allows must fit
        in ``MAX_VARIABLE_VALUES``: each is an object of ``__typename`` and one key (3
        values), in one list variable (1). Otherwise raising the first would only have its
        requests refused by the second, under another name."""
        needed = 3 * self.max_entity_representations + 1
        if self.max_variable_values < needed:
            raise ValueError(
                f"MAX_VARIABLE_VALUES ({self.max_variable_values}) must be at least {needed}: "
                f"{self.max_entity_representations} representations (MAX_ENTITY_REPRESENTATIONS) "
                "of 3 values each, in one variable"
            )
        return self


def _comma_list(raw: Any) -> Any:
    """A comma-separated variable as a list (values given in code pass through)."""
    return (
        [item.strip() for item in raw.split(",") if item.strip()] if isinstance(raw, str) else raw
    )


def _persisted_paths(raw: Any) -> Any:
    return parse_paths(raw) if isinstance(raw, str) else raw


def _check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    origins = tuple(origin.rstrip("/") for origin in origins)
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"origin {origin!r} must start with http:// or https:// (or be *)")
    return origins


class Settings(ProcessSettings):
    """Everything the API process needs besides its code."""

    tokens: InstanceOf[TokenSettings]
    topics: InstanceOf[TopicNames] = Field(default_factory=TopicNames)
    limits: QueryLimits = Field(default_factory=lambda: QueryLimits())
    live: LiveSettings = Field(default_factory=lambda: LiveSettings())
    #: What GraphiQL's example tabs look up (``GRAPHIQL_EXAMPLE_*``, set by ``scripts/demo``).
    graphiql_examples: ExampleValues = Field(default_factory=lambda: ExampleValues())
    #: Consumer group of the projector, whose committed offsets give the consumer lag.
    projector_group: str = Field("portal-projector", min_length=1)
    lag_poll_interval_seconds: float = Field(15.0, ge=0.1, allow_inf_nan=False)
    api_host: str = Field("127.0.0.1", min_length=1)
    api_port: int = Field(8000, ge=0, le=65535)
    #: How long a stopping API waits for requests still running before it cancels them:
    #: one stuck request must not keep a process from stopping (an orchestrator would kill
    #: it anyway, without the lifespan's clean-up).
    api_shutdown_grace_seconds: int = Field(10, ge=1, le=300)
    graphql_path: Annotated[str, AfterValidator(_graphql_path)] = "/graphql"
    #: Origins allowed to call the API from a browser; empty means no cross-origin calls.
    cors_origins: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_comma_list), AfterValidator(_check_origins)
    ] = ()
    #: Distinct query texts whose parse and validation are remembered (``web.document_cache``).
    document_cache_size: int = Field(256, ge=0)
    #: Worker processes that validate new documents larger than a handful of selections
    #: (``web.validation_pool``), and how many such documents may wait or run at once in
    #: this process, in all and from one client (beyond: 429 RATE_LIMITED).
    document_check_processes: int = Field(1, ge=1, le=64)
    document_check_queue: int = Field(4, ge=1)
    document_check_per_client: int = Field(1, ge=1)
    #: A worker that has not answered for one document within this is killed and replaced;
    #: that request gets 503 SERVICE_UNAVAILABLE (a check takes milliseconds; below half a
    #: second, a busy machine's scheduling alone would fail documents).
    document_check_timeout_seconds: float = Field(5.0, ge=0.5, allow_inf_nan=False)
    #: GraphQL operations running at once over HTTP in this process, in all and from one
    #: client (token subject, else address); beyond either: 429 RATE_LIMITED.
    max_requests_in_flight: int = Field(512, ge=1)
    max_requests_per_client: int = Field(16, ge=1)
    #: A request's head (request line and headers) larger than this is refused with 431
    #: and its connection closed, before the parser holds more of it (``web.request_head``;
    #: uvicorn with httptools has no bound). 64 KiB, like common proxies; a browser's
    #: request with a token and cookies takes a few KiB.
    request_header_max_bytes: int = Field(65_536, ge=4_096)
    #: A connection whose request head is not complete this long after it opened, or after
    #: the head's first byte, is closed (408 if it sent part of a head): uvicorn has no such
    #: timeout, so a client sending its headers a byte at a time held a connection for ever.
    request_header_timeout_seconds: float = Field(15.0, ge=0.5, allow_inf_nan=False)
    #: A request body that sends nothing for this long is answered 408 and its request
    #: ends (``web.graphql_http``): uvicorn waits for a stalled body as long as the client
    #: stays connected.
    request_body_timeout_seconds: float = Field(30.0, ge=0.5, allow_inf_nan=False)
    #: A source whose last applied event is older than this is reported stale.
    stale_after_seconds: float = Field(300.0, ge=0.001, allow_inf_nan=False)
    #: Entitlement policy file; None means the packaged default policy.
    entitlements_file: Annotated[Path | None, AfterValidator(check_existing_file)] = None
    #: Manifests of persisted operations (Apollo's or Relay's format); see ``web.persisted``.
    persisted_operations_files: Annotated[
        tuple[Path, ...], NoDecode, BeforeValidator(_persisted_paths)
    ] = Field((), validation_alias="PERSISTED_OPERATIONS_FILE")
    #: Texts of Apollo automatic persisted queries remembered by hash (LRU; 0: none).
    persisted_query_cache_size: int = Field(1000, ge=0)
    #: How often the in-memory source freshness that every response reports is re-read;
    #: 0 leaves ``extensions.freshness`` out of responses.
    freshness_refresh_seconds: float = Field(
        DEFAULT_FRESHNESS_REFRESH_SECONDS, ge=0, allow_inf_nan=False
    )
    #: How long a process reuses the projection generation it read (``resolvers.generation``):
    #: after a rebuild's switch, reads may go to the previous generation for this long.
    #: 0 reads the pointer on every request.
    read_pointer_cache_seconds: float = Field(1.0, ge=0, allow_inf_nan=False)
    #: How long the store may spend on one read of a list, a search or a count (``maxTimeMS``);
    #: a read it stops is answered SERVICE_UNAVAILABLE (``resolvers.readers.store_failed``).
    #: The default is the readers' ``DEFAULT_STORE_MAX_TIME_MS`` (web does not import them).
    store_max_time_ms: int = Field(5000, ge=1)

    @property
    def freshness_max_age_seconds(self) -> float:
        """How long one read of the sources serves ``/metrics`` scrapes:
        ``FRESHNESS_REFRESH_SECONDS``, or its default when 0 switched the background refresh
        off, so that scrapes never read the store once each."""
        return self.freshness_refresh_seconds or DEFAULT_FRESHNESS_REFRESH_SECONDS


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Every API setting (subscriptions' and tokens' included) from ``environ`` (default
    ``os.environ``); ``SettingsError`` naming every bad variable at once."""
    reader = EnvReader("API", environ)
    parts = {
        "tokens": read_token_settings(reader),
        "topics": read_topic_names(reader),
        "limits": reader.read(QueryLimits),
        "live": reader.read(LiveSettings),
        "graphiql_examples": reader.read(ExampleValues),
    }
    settings = reader.read(Settings, **parts)
    reader.raise_problems()
    assert settings is not None
    return settings
