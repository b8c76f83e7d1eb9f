"""Validation of new, large documents in a worker process, admitted through a fair lane.

graphql-core's validation is pure Python and, for a document of 100 selections within the
limits, costs 10-40 ms (its overlapping-fields rule compares fields that share a response
name pairwise; fragments spread within fragments multiply the comparisons). On the event
loop that is 10-40 ms every other request waits. In a thread it is no better: the thread
holds the GIL, and the event loop's thread waits up to the switch interval (5 ms) for it
each time it wants it back, after every socket read and every driver reply, so a trivial
request behind two validating threads took 170-300 ms (``bench/abuse.py``, session 4). In a
process of its own, validation runs on whatever core the OS finds, and the event loop only
waits for a reply on a pipe.

What crosses the pipe is the query text and the rules (by name); the worker parses it again
(the parent parsed it already, under ``MAX_QUERY_TOKENS``, and keeps its own document for
execution) and returns each error's message, positions and extensions, which the parent
turns back into ``GraphQLError``\\ s against its own source: positions in the same text are
the same.

Admission (``web.admission.Lane``): at most ``DOCUMENT_CHECK_QUEUE`` documents wait or run
per process, at most ``DOCUMENT_CHECK_PER_CLIENT`` from one client; a request that finds no
place gets ``RATE_LIMITED`` (HTTP 429, ``Retry-After``) at once. Texts already validated
never enter the lane (``web.document_cache`` answers them), so a client repeating its
queries is never limited by this, however many it sends.

Workers are forked from a fork server that imported the schema's modules once (started in
the background with the app), so a worker starts in a fraction of a second; the pool starts
them when the first document needs one (handed over from a thread, never blocking the event
loop), and a pool that lost a worker (killed, out of memory) is replaced for the next
document.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.forkserver
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Final

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse

from web.admission import Lane
from web.document_cache import validate_document

logger = logging.getLogger("web.validation_pool")

#: Modules the fork server imports once, so that each worker forked from it starts warm.
PRELOAD: Final = ["graph.schema", "strawberry.schema.schema"]

#: (message, positions, extensions) of one validation error.
ErrorData = tuple[str, list[int], dict[str, Any] | None]

_worker_schema: GraphQLSchema | None = None


def _start_worker(schema_factory: Callable[[], GraphQLSchema]) -> None:
    global _worker_schema
    _worker_schema = schema_factory()


def _validate_in_worker(
    query: str, rules: tuple[type[ASTValidationRule], ...], max_errors: int | None
) -> list[ErrorData]:
    assert _worker_schema is not None, "the worker's initializer builds the schema"
    document = parse(query)
    return [
        (error.message, list(error.positions or ()), error.extensions or None)
        for error in validate_document(_worker_schema, document, rules, max_errors)
    ]


def _start_fork_server() -> None:
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        multiprocessing.forkserver.ensure_running()
    except Exception:  # the first document will try again, and report what fails
        logger.exception("could not start the validation fork server")


def portal_graphql_schema() -> GraphQLSchema:
    """The API's schema, as validation sees it (extensions do not change the types)."""
    from graph.schema import build_schema

    return build_schema()._schema


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """``callback(*args)`` on ``loop``'s thread, from whichever thread finished the job."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop closed (shutdown): nothing holds the lane any more
        pass


class ValidationUnavailable(Exception):
    """The worker process died while validating; the request may be retried."""


class ValidationPool:
    """Worker processes that validate documents for one app (``processes`` of them)."""

    def __init__(
        self,
        lane: Lane,
        *,
        processes: int = 1,
        max_errors: int | None = None,
        schema_factory: Callable[[], GraphQLSchema] = portal_graphql_schema,
    ) -> None:
        self.lane = lane
        self.processes = processes
        self.max_errors = max_errors
        self.schema_factory = schema_factory
        self._executor: ProcessPoolExecutor | None = None
        #: Guards ``_executor``: documents are handed over from worker threads.
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.schema_factory,),
            )
        return self._executor

    async def validate(
        self,
        client: Hashable,
        query: str,
        document: DocumentNode,
        rules: Sequence[type[ASTValidationRule]],
    ) -> list[GraphQLError]:
        """The validation errors of ``document`` (parsed from ``query``), computed in a
        worker. Raises ``web.admission.LaneFull`` when ``client`` gets no place in the lane
        and ``ValidationUnavailable`` when the worker died."""
        self.lane.enter(client)
        loop = asyncio.get_running_loop()

        def release(_: object = None) -> None:
            _call_soon(loop, self.lane.leave, client)

        # Submitting may start a worker process, a round trip to the fork server that takes
        # a second on a busy machine: never on the event loop's thread.
        pool, job = await asyncio.to_thread(self._submit, query, tuple(rules), release)
        try:
            found = await asyncio.wrap_future(job)
        except BrokenProcessPool as exc:
            logger.error("a validation worker died; a new pool starts with the next document")
            with self._lock:
                self._discard(pool)
            raise ValidationUnavailable("the validation worker stopped") from exc
        source = document.loc.source if document.loc is not None else None
        return [
            GraphQLError(message, source=source, positions=positions or None, extensions=ext)
            for message, positions, ext in found
        ]

    def _submit(
        self,
        query: str,
        rules: tuple[type[ASTValidationRule], ...],
        release: Callable[[object], None],
    ) -> tuple[ProcessPoolExecutor, Future[list[ErrorData]]]:
        """Hand the document to a worker (in a thread); ``release`` runs when the worker is
        done with it, or now if it could not be handed over. The place in the lane is thus
        given back when the worker is free again, not when the request stops waiting: a
        client that disconnects does not free the worker sooner. A pool found broken (a
        worker died between two documents) is replaced once, so only the document that was
        in the dying worker fails."""
        try:
            with self._lock:
                pool = self._pool()
                try:
                    job = pool.submit(_validate_in_worker, query, rules, self.max_errors)
                except BrokenProcessPool:
                    self._discard(pool)
                    pool = self._pool()
                    job = pool.submit(_validate_in_worker, query, rules, self.max_errors)
        except BaseException:
            release(None)
            raise
        job.add_done_callback(release)
        return pool, job

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        if self._executor is pool:
            self._executor = None
        pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        """Start the fork server (once per interpreter) in a background thread, so that the
        first large new document waits for a fork, not for the schema's modules to import.
        Workers themselves start with the first document that needs one."""
        threading.Thread(target=_start_fork_server, name="fork-server-start", daemon=True).start()

    def close(self) -> None:
        """Stop the workers (each finishes the document it is validating)."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
