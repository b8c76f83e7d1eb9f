"""Media types of GraphQL over HTTP: which response type a client accepts, which bodies we take.

Per the GraphQL-over-HTTP specification, a client that accepts
``application/graphql-response+json`` gets it, with meaningful status codes (400 for a
document that does not parse or validate); a client that only accepts ``application/json``
(or says nothing) gets the legacy behaviour, 200 for every well-formed request.
"""

from __future__ import annotations

from typing import Final

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
JSON: Final = "application/json"
_CANDIDATES: Final = (GRAPHQL_RESPONSE_JSON, JSON)


def _parameters(parts: list[str]) -> dict[str, str]:
    params = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return params


def _quality(raw: str | None) -> float:
    if raw is None:
        return 1.0
    try:
        q = float(raw)
    except ValueError:
        return 0.0
    return min(max(q, 0.0), 1.0)


def choose_response_type(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or None when we can offer none (406).

    The most specific matching range decides each candidate's quality (RFC 9110 12.5.1).
    Equal quality prefers ``application/graphql-response+json`` only when the client named it
    explicitly; a bare ``*/*`` gets ``application/json``, which every client understands.
    No header at all means ``application/json`` (the specification's legacy rule).
    """
    if accept is None or not accept.strip():
        return JSON
    # candidate -> (specificity, quality) of the most specific range matching it
    best: dict[str, tuple[int, float]] = {}
    for item in accept.split(","):
        parts = item.split(";")
        media_range = parts[0].strip().lower()
        if not media_range:
            continue
        quality = _quality(_parameters(parts[1:]).get("q"))
        for candidate in _CANDIDATES:
            kind, _, _ = candidate.partition("/")
            if media_range == candidate:
                specificity = 2
            elif media_range == f"{kind}/*":
                specificity = 1
            elif media_range == "*/*":
                specificity = 0
            else:
                continue
            if candidate not in best or specificity > best[candidate][0]:
                best[candidate] = (specificity, quality)
    acceptable = [(c, s, q) for c, (s, q) in best.items() if q > 0]
    if not acceptable:
        return None

    def rank(entry: tuple[str, int, float]) -> tuple[float, int, bool]:
        candidate, specificity, quality = entry
        preferred = candidate == (GRAPHQL_RESPONSE_JSON if specificity == 2 else JSON)
        return (quality, specificity, preferred)

    return max(acceptable, key=rank)[0]


def is_json_body(content_type: str | None) -> bool:
    """True for ``application/json`` in UTF-8 (the only request body GraphQL over HTTP needs)."""
    if content_type is None:
        return False
    parts = content_type.split(";")
    if parts[0].strip().lower() != JSON:
        return False
    charset = _parameters(parts[1:]).get("charset", "utf-8").lower()
    return charset in ("utf-8", "utf8")


def prefers_html(accept: str | None) -> bool:
    """True for a browser navigating to the endpoint (it lists ``text/html`` explicitly)."""
    return accept is not None and "text/html" in accept.lower()
