"""The API process's configuration, read once from the environment at start-up.

Every value is validated here so a bad deployment fails at boot with one message that names
each offending variable, instead of failing later on the first request that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from entitlements.errors import ConfigurationError
from entitlements.tokens import TokenSettings
from projections.topics import TopicNames
from web.persisted import parse_paths

T = TypeVar("T")


class SettingsError(ValueError):
    """The environment does not describe a runnable API; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid API configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class QueryLimits:
    """Bounds on what one GraphQL document may ask for; see ``web.limits``."""

    max_depth: int = 12
    max_aliases: int = 30
    max_query_bytes: int = 20_000
    #: Lexical tokens the parser reads before it gives up (graphql-core's ``max_tokens``).
    max_tokens: int = 500
    #: Fields, fragment spreads and inline fragments written in one document; checked before
    #: validation, whose cost grows with them (quadratically, for repeated response names).
    max_fields: int = 100
    max_cost: int = 5_000
    #: Representations one request may ask ``_entities`` to resolve (a federation gateway
    #: batches its lookups; each representation is one entity read).
    max_entity_representations: int = 100
    #: Validation stops after this many errors (graphql-core's default is 100).
    max_validation_errors: int = 10
    #: The page size assumed for a list field that is not given ``first``.
    default_page_size: int = 20
    #: Request bodies larger than this are refused before parsing (413).
    max_body_bytes: int = 1_000_000


@dataclass(frozen=True)
class Settings:
    """Everything the API process needs besides its code."""

    tokens: TokenSettings
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "portal"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topics: TopicNames = field(default_factory=TopicNames)
    #: Consumer group of the projector, whose committed offsets give the consumer lag.
    projector_group: str = "portal-projector"
    lag_poll_interval_seconds: float = 15.0
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    graphql_path: str = "/graphql"
    #: Origins allowed to call the API from a browser; empty means no cross-origin calls.
    cors_origins: tuple[str, ...] = ()
    limits: QueryLimits = field(default_factory=QueryLimits)
    #: Distinct query texts whose parse and validation are remembered (``web.document_cache``).
    document_cache_size: int = 256
    #: Worker processes that validate new documents larger than a handful of selections
    #: (``web.validation_pool``), and how many such documents may wait or run at once in
    #: this process, in all and from one client (beyond: 429 RATE_LIMITED).
    document_check_processes: int = 1
    document_check_queue: int = 4
    document_check_per_client: int = 1
    #: GraphQL operations running at once over HTTP in this process, in all and from one
    #: client (token subject, else address); beyond either: 429 RATE_LIMITED.
    max_requests_in_flight: int = 512
    max_requests_per_client: int = 16
    #: A source whose last applied event is older than this is reported stale.
    stale_after_seconds: float = 300.0
    #: Entitlement policy file; None means the packaged default policy.
    entitlements_file: Path | None = None
    #: Manifests of persisted operations (Apollo's or Relay's format); see ``web.persisted``.
    persisted_operations_files: tuple[Path, ...] = ()
    #: Texts of Apollo automatic persisted queries remembered by hash (LRU; 0: none).
    persisted_query_cache_size: int = 1000
    #: How often the in-memory source freshness that every response reports is re-read;
    #: 0 leaves ``extensions.freshness`` out of responses.
    freshness_refresh_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read and validate every setting; raise ``SettingsError`` naming each bad variable."""
        reader = _Reader(environ)
        limits_defaults = QueryLimits()
        limits = QueryLimits(
            max_depth=reader.integer("MAX_QUERY_DEPTH", limits_defaults.max_depth, minimum=1),
            max_aliases=reader.integer("MAX_ALIASES", limits_defaults.max_aliases, minimum=0),
            max_query_bytes=reader.integer(
                "MAX_QUERY_BYTES", limits_defaults.max_query_bytes, minimum=1
            ),
            max_tokens=reader.integer("MAX_QUERY_TOKENS", limits_defaults.max_tokens, minimum=1),
            max_fields=reader.integer("MAX_QUERY_FIELDS", limits_defaults.max_fields, minimum=1),
            max_cost=reader.integer("MAX_QUERY_COST", limits_defaults.max_cost, minimum=1),
            max_entity_representations=reader.integer(
                "MAX_ENTITY_REPRESENTATIONS",
                limits_defaults.max_entity_representations,
                minimum=1,
            ),
            max_validation_errors=reader.integer(
                "MAX_VALIDATION_ERRORS", limits_defaults.max_validation_errors, minimum=1
            ),
            default_page_size=reader.integer(
                "DEFAULT_PAGE_SIZE", limits_defaults.default_page_size, minimum=1
            ),
            max_body_bytes=reader.integer(
                "MAX_BODY_BYTES", limits_defaults.max_body_bytes, minimum=1
            ),
        )
        if limits.max_body_bytes < limits.max_query_bytes:
            reader.problems.append(
                f"MAX_BODY_BYTES ({limits.max_body_bytes}) must be at least "
                f"MAX_QUERY_BYTES ({limits.max_query_bytes})"
            )
        tokens = reader.call("AUTH_* token settings", lambda: TokenSettings.from_env(environ))
        topics = reader.call("TOPIC_* topic names", lambda: TopicNames.from_env(environ))
        settings = cls(
            tokens=tokens,  # type: ignore[arg-type]  # None only when a problem was recorded
            mongodb_uri=reader.text("MONGODB_URI", "mongodb://127.0.0.1:27017/", _mongo_uri),
            mongodb_database=reader.text("MONGODB_DATABASE", "portal", _database_name),
            kafka_bootstrap_servers=reader.text(
                "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", _host_port_list
            ),
            topics=topics or TopicNames(),
            projector_group=reader.text("PROJECTOR_GROUP", "portal-projector", _non_empty),
            lag_poll_interval_seconds=reader.number("LAG_POLL_INTERVAL_SECONDS", 15.0, minimum=0.1),
            api_host=reader.text("API_HOST", "127.0.0.1", _non_empty),
            api_port=reader.integer("API_PORT", 8000, minimum=0, maximum=65535),
            graphql_path=reader.text("GRAPHQL_PATH", "/graphql", _graphql_path),
            cors_origins=reader.text("CORS_ORIGINS", (), _origins),
            limits=limits,
            document_cache_size=reader.integer("DOCUMENT_CACHE_SIZE", 256, minimum=0),
            document_check_processes=reader.integer(
                "DOCUMENT_CHECK_PROCESSES", 1, minimum=1, maximum=64
            ),
            document_check_queue=reader.integer("DOCUMENT_CHECK_QUEUE", 4, minimum=1),
            document_check_per_client=reader.integer("DOCUMENT_CHECK_PER_CLIENT", 1, minimum=1),
            max_requests_in_flight=reader.integer("MAX_REQUESTS_IN_FLIGHT", 512, minimum=1),
            max_requests_per_client=reader.integer("MAX_REQUESTS_PER_CLIENT", 16, minimum=1),
            stale_after_seconds=reader.number("STALE_AFTER_SECONDS", 300.0, minimum=0.001),
            entitlements_file=reader.text("ENTITLEMENTS_FILE", None, _existing_file),
            persisted_operations_files=reader.text("PERSISTED_OPERATIONS_FILE", (), parse_paths),
            persisted_query_cache_size=reader.integer(
                "PERSISTED_QUERY_CACHE_SIZE", 1000, minimum=0
            ),
            freshness_refresh_seconds=reader.number("FRESHNESS_REFRESH_SECONDS", 5.0, minimum=0),
        )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


class _Reader:
    """Collects every problem instead of stopping at the first, so one boot shows them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems.append(f"{name}={raw!r}: {exc}")
            return default

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        def parse(raw: str) -> int:
            try:
                value = int(raw)
            except ValueError:
                raise ValueError("expected an integer") from None
            _check_range(value, minimum, maximum)
            return value

        return self.text(name, default, parse)

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        def parse(raw: str) -> float:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError("expected a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
            _check_range(value, minimum, None)
            return value

        return self.text(name, default, parse)

    def call(self, what: str, build: Callable[[], T]) -> T | None:
        try:
            return build()
        except (ConfigurationError, ValueError, OSError) as exc:
            self.problems.append(f"{what}: {exc}")
            return None


def _check_range(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")


def _non_empty(raw: str) -> str:
    return raw


def _mongo_uri(raw: str) -> str:
    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("expected a mongodb:// or mongodb+srv:// URI")
    return raw


def _database_name(raw: str) -> str:
    if any(ch in raw for ch in '/\\. "$') or len(raw) > 63:
        raise ValueError("not a valid MongoDB database name")
    return raw


def _host_port_list(raw: str) -> str:
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port[,host:port...], got {item.strip()!r}")
    return raw


def _graphql_path(raw: str) -> str:
    if not raw.startswith("/") or raw == "/" or raw.endswith("/") or " " in raw:
        raise ValueError("expected an absolute path such as /graphql (no trailing slash)")
    if raw in ("/healthz", "/readyz", "/metrics") or raw.startswith("/graphiql/"):
        raise ValueError("collides with a built-in route")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"origin {origin!r} must start with http:// or https:// (or be *)")
    return origins


def _existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError("no such file")
    return path
