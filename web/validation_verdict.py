"""What a validation worker answers for one document, and how the API process reads it back.

The worker (``web.validation_worker``) parses, screens and validates a large new text exactly
as the event loop does for a small one (``DocumentCache.check_now``), and answers a
``Verdict``: plain data for a refusal (the errors' messages, positions and extensions, and the
operations' names and types, which is all the API process needs to answer), or the valid
document pickled with locations as offsets (``_DocumentPickler``), with the screen's measure
of it (``web.limits.Measure``: the loop would otherwise walk the document again for the
per-request limits). The API process turns it back into a ``CheckedDocument`` (``checked_of``)
without parsing anything: session 5 parsed every such text on the event loop first, which was
most of the 13-21 ms of API CPU a hostile document cost.

Both halves live here so that what the worker writes and what the pool reads are one
contract, readable side by side; neither half does any I/O.
"""

from __future__ import annotations

import copyreg
import gc
import io
import pickle
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Source,
    SourceLocation,
)
from graphql.language import Location

from web.document_cache import CheckedDocument, DocumentCache, TooManyTokens

#: (message, positions, locations as (line, column), extensions) of one error.
ErrorData = tuple[str, list[int], list[tuple[int, int]], dict[str, Any] | None]

#: What a worker answers for one text (plain data: it crosses a pipe):
#: ("tokens",) past ``MAX_QUERY_TOKENS``; ("syntax", description, position);
#: ("refused", operations as (type, name), errors) for a document that must not run;
#: ("valid", the document pickled by ``_dump_document``, the screen's measure);
#: ("failed", a description) for a fault of the worker's own.
Verdict = tuple[Any, ...]


class ValidationUnavailable(Exception):
    """No worker was free in time, or the worker stopped (killed, out of memory) or did not
    answer in time while checking this document; the request may be retried."""


def verdict_of(
    schema: GraphQLSchema,
    checker: DocumentCache,
    query: str,
    rules: tuple[type[ASTValidationRule], ...],
) -> Verdict:
    """The whole check of a new text, as the event loop would make it
    (``DocumentCache.check_now``), reduced to a verdict (in the worker)."""
    try:
        checked = checker.check_now(schema, query, rules)
    except TooManyTokens:
        return ("tokens",)
    except GraphQLSyntaxError as error:
        description = error.message.removeprefix("Syntax Error: ")
        return ("syntax", description, next(iter(error.positions or ()), 0))
    if not checked.errors:
        return ("valid", _dump_document(checked.document), checked.measured)
    operations = [
        (d.operation.value, d.name.value if d.name else None)
        for d in checked.document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    errors: list[ErrorData] = [
        (
            e.message,
            list(e.positions or ()),
            [(location.line, location.column) for location in e.locations or ()],
            e.extensions or None,
        )
        for e in checked.errors
    ]
    return ("refused", operations, errors)


class _DocumentPickler(pickle.Pickler):
    """Pickles a parsed document with each location as its offsets and source only.

    graphql-core pickles a location with its two tokens, each restored by a Python
    ``__setstate__``, which made restoring a document cost as much as parsing it. Errors
    need only a location's offsets and source; the tokens serve the parser alone.
    """

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Location:
            state = {"start": obj.start, "end": obj.end, "source": obj.source}
            # ``__newobj__`` by name: pickle writes its NEWOBJ opcode, no Python call to load
            return copyreg.__newobj__, (Location,), (None, state)  # type: ignore[attr-defined]
        return NotImplemented


def _dump_document(document: DocumentNode) -> bytes:
    buffer = io.BytesIO()
    _DocumentPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(document)
    return buffer.getvalue()


def _restored(dumped: bytes) -> DocumentNode:
    """A worker's document, unpickled with the garbage collector paused. Its ~1,000 new
    objects (the worst fragments document) would set off the collector's passes over the
    API process's whole heap (the schema, the libraries), which cost more than the restore
    itself: 1.5 against 0.6 ms per document (ad hoc, in one process; the asking process's CPU
    per fragments check in ``bench/abuse.py --pool-cpu``: 1.5-3.0 against main's 2.2-4.7 ms).
    None of them is garbage; the next allocation runs what was put off."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        document: DocumentNode = pickle.loads(dumped)
    finally:
        if collecting:
            gc.enable()
    return document


def _refusal(
    source: Source,
    message: str,
    positions: list[int],
    locations: list[tuple[int, int]],
    extensions: dict[str, Any] | None,
) -> GraphQLError:
    """One of a refused document's errors, with the locations the worker found: given the
    positions, graphql-core would scan the text for line breaks again for each error (0.4 ms
    of the event loop per refused 20 KB text, with ``CheckedDocument.fresh_errors``)."""
    error = GraphQLError(message, extensions=extensions)
    error.source, error.positions = source, positions or None
    error.locations = [SourceLocation(line, column) for line, column in locations] or None
    return error


def checked_of(verdict: Verdict, query: str, max_tokens: int | None) -> CheckedDocument:
    """The parent's ``CheckedDocument`` for a worker's verdict on ``query``; raises what
    ``DocumentCache.check_now`` raises, so both places of checking read alike."""
    source = Source(query)
    kind = verdict[0]
    if kind == "tokens":
        raise TooManyTokens(max_tokens or 0)
    if kind == "syntax":
        raise GraphQLSyntaxError(source, verdict[2], verdict[1])
    if kind == "valid":
        try:
            document = _restored(verdict[1])
        except Exception as exc:  # a fault of the worker's answer, not of the client's text
            raise ValidationUnavailable("the validation worker's answer could not be read") from exc
        # its own Source, the same text; the measure spares the event loop a walk of it
        return CheckedDocument(document, (), measured=verdict[2])
    operations = tuple(
        OperationDefinitionNode(
            operation=OperationType(operation),
            name=NameNode(value=name) if name is not None else None,
            variable_definitions=(),
            directives=(),
            selection_set=SelectionSetNode(selections=()),
        )
        for operation, name in verdict[1]
    )
    errors = tuple(_refusal(source, *error) for error in verdict[2])
    return CheckedDocument(DocumentNode(definitions=operations), errors, screened=True)
