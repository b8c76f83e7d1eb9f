"""Persisted operations without a server: manifests, validation at load, the APQ rules."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from entitlements.errors import ConfigurationError
from entitlements.policy import Policy
from graph.schema import build_schema
from tests.helpers import caller
from web.document_cache import DocumentCache
from web.persisted import (
    DocumentRequest,
    PersistedOperations,
    PersistedQueryError,
    document_for,
    parse_manifest,
    sha256_hex,
)

SCHEMA = build_schema()._schema
VIEWER = "query Viewer { viewer { subject } }"


def _apq(text: str, *, send_text: bool) -> DocumentRequest:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(text)}}
    return DocumentRequest(text if send_text else None, extensions=persisted)


def test_both_manifest_formats() -> None:
    apollo = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": "a1", "name": "Viewer", "type": "query", "body": VIEWER}],
    }
    assert [(o.id, o.name) for o in parse_manifest(apollo, "m.json")] == [("a1", "Viewer")]
    assert [o.text for o in parse_manifest({"r1": VIEWER}, "r.json")] == [VIEWER]
    with pytest.raises(ConfigurationError, match=r"^m\.json: unknown manifest format"):
        parse_manifest({"format": "other", "operations": []}, "m.json")
    with pytest.raises(ConfigurationError, match="entry 'r1'"):
        parse_manifest({"r1": 42}, "r.json")


def test_an_operation_that_does_not_validate_stops_the_load_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "relay.json"
    path.write_text(json.dumps({"good": VIEWER, "bad1": "query Broken { noSuchField }"}))
    with pytest.raises(ConfigurationError) as caught:
        PersistedOperations.load([path], SCHEMA, DocumentCache(8), apq_cache_size=8)
    assert str(caught.value).startswith(f"{path}: operation 'bad1'")
    assert "noSuchField" in str(caught.value)


async def test_listed_operations_are_parsed_once_and_pinned(tmp_path: Path) -> None:
    path = tmp_path / "relay.json"
    path.write_text(json.dumps({"v": VIEWER}))
    documents = DocumentCache(0)  # no LRU at all: only pinned documents are remembered
    PersistedOperations.load([path], SCHEMA, documents, apq_cache_size=8)
    from graphql import specified_rules

    first = await documents.checked(SCHEMA, VIEWER, specified_rules)
    assert await documents.checked(SCHEMA, VIEWER, specified_rules) is first


def test_apq_miss_register_hit_and_bounded_cache() -> None:
    operations = PersistedOperations(apq_cache_size=2)
    with pytest.raises(PersistedQueryError) as miss:
        operations.document(_apq(VIEWER, send_text=False), may_send_free_form=True)
    assert miss.value.code == "PERSISTED_QUERY_NOT_FOUND"
    assert operations.document(_apq(VIEWER, send_text=True), may_send_free_form=True) == VIEWER
    assert operations.document(_apq(VIEWER, send_text=False), may_send_free_form=True) == VIEWER
    for n in range(2):
        operations.document(
            _apq(f"{{ a{n}: __typename }}", send_text=True), may_send_free_form=True
        )
    assert operations.remembered() == 2  # the oldest went
    with pytest.raises(PersistedQueryError):
        operations.document(_apq(VIEWER, send_text=False), may_send_free_form=True)


def test_a_hash_that_does_not_match_the_text_is_refused() -> None:
    wrong = DocumentRequest(
        VIEWER, extensions={"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    )
    with pytest.raises(PersistedQueryError) as caught:
        PersistedOperations().document(wrong, may_send_free_form=True)
    assert caught.value.code == "BAD_REQUEST"


def test_callers_without_free_form_run_only_listed_operations() -> None:
    from web.persisted import Operation

    operations = PersistedOperations([Operation("v", VIEWER)])
    assert operations.document(DocumentRequest(None, "v"), may_send_free_form=False) == VIEWER
    assert operations.document(DocumentRequest(VIEWER), may_send_free_form=False) == VIEWER
    for request in (
        DocumentRequest("{ __typename }"),
        _apq("{ __typename }", send_text=True),
        DocumentRequest("\ud800"),  # not valid Unicode: refused the same way, not a 500
    ):
        with pytest.raises(PersistedQueryError) as caught:
            operations.document(request, may_send_free_form=False)
        assert caught.value.code == "PERSISTED_QUERY_REQUIRED"
    assert operations.remembered() == 0  # nothing registered for a caller who may not


def test_a_text_registered_by_a_free_form_caller_does_not_run_for_one_without() -> None:
    operations = PersistedOperations(apq_cache_size=8)
    text = "{ a: __typename }"
    assert operations.document(_apq(text, send_text=True), may_send_free_form=True) == text
    for request in (_apq(text, send_text=False), _apq(text, send_text=True)):
        with pytest.raises(PersistedQueryError) as caught:
            operations.document(request, may_send_free_form=False)
        assert caught.value.code in {"PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_REQUIRED"}
    assert operations.document(_apq(text, send_text=False), may_send_free_form=True) == text


def test_a_text_registered_by_one_customer_is_not_known_to_another() -> None:
    """Whether the server knows a hash told one caller that another had sent its text (a
    text with literal ids: another customer's tracking number asked for, say). Registered
    texts are kept per set of entitlements (customers and roles): callers who see the same
    data share them, and a caller of another customer must send the text itself."""
    state = SimpleNamespace(persisted=PersistedOperations(apq_cache_size=8), policy=Policy())
    text = '{ shipmentByTrackingNumber(trackingNumber: "TRK-G") { shipmentId } }'
    globex, colleague = caller("GLOBEX", subject="gina"), caller("GLOBEX", subject="gus")
    assert document_for(state, globex, _apq(text, send_text=True)) == text
    assert document_for(state, colleague, _apq(text, send_text=False)) == text
    for other in (caller("ACME"), caller("GLOBEX", roles=("viewer", "finance")), None):
        with pytest.raises(PersistedQueryError) as caught:
            document_for(state, other, _apq(text, send_text=False))
        assert caught.value.code == "PERSISTED_QUERY_NOT_FOUND"
    assert document_for(state, caller("ACME"), _apq(text, send_text=True)) == text


def test_a_text_over_the_query_size_limit_is_not_remembered() -> None:
    """Texts were remembered before any limit read them: 1,000 hashes with texts of a
    megabyte each (the body limit; refused later for ``MAX_QUERY_BYTES``) held a gigabyte
    of the process, from anyone allowed free-form documents, anonymous callers included. A
    text over the query size limit, which no request can run, is not remembered; the client
    sending its hash alone is told PERSISTED_QUERY_NOT_FOUND, as for any unknown hash."""
    operations = PersistedOperations(apq_cache_size=8, apq_max_text_bytes=41)  # in bytes: é is two
    fits, too_long = "{ a: __typename }", "{ a: __typename }" + " " * 23 + "é"
    assert len(too_long) == 41 and len(too_long.encode()) == 42
    for text in (fits, too_long):
        assert operations.document(_apq(text, send_text=True), may_send_free_form=True) == text
    assert operations.remembered() == 1
    assert operations.document(_apq(fits, send_text=False), may_send_free_form=True) == fits
    with pytest.raises(PersistedQueryError) as caught:
        operations.document(_apq(too_long, send_text=False), may_send_free_form=True)
    assert caught.value.code == "PERSISTED_QUERY_NOT_FOUND"
