"""The whole check of new, large documents in a worker process, admitted through a lane.

graphql-core's parser and validation are pure Python. For a text within the limits, parsing costs
5-10 ms (about 20 µs per token) and validation 5-15 ms (graphql-core's overlapping- fields rule,
which compares fields sharing a response name pairwise and took 10-40 ms, is settled first by the
linear pass of ``web.field_merging`` where it can be). On the event loop that is every other
request's wait. In a thread it is no better: the thread holds the GIL, and the event loop's thread
waits up to the switch interval (5 ms) for it each time it wants it back, so a trivial request
behind two validating threads took 170-300 ms (``bench/abuse.py``, session 4). In a process of its
own, the check runs on whatever core the OS finds, and the event loop waits for a pipe.

What crosses the pipe is the query text and the rules (by name). The worker parses (under
``MAX_QUERY_TOKENS``), screens and validates exactly as the event loop does for a small text
(``DocumentCache.check_now``) and answers a ``Verdict``: plain data for a refusal (the
errors' messages, positions and extensions, and the operations' names and types, which is
all the parent needs to answer), or the valid document pickled with locations as offsets
(``_DocumentPickler``), with the screen's measure of it (``web.limits.Measure``: the loop
would otherwise walk the document again for the per-request limits). The parent turns it
back into a ``CheckedDocument`` (``checked_of``) without parsing anything: session 5 parsed
every such text on the event loop first, which was most of the 13-21 ms of API CPU a hostile
document cost.

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
import copyreg
import io
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Final

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
)
from graphql.language import Location

from web.admission import Lane
from web.document_cache import CheckedDocument, DocumentCache, Screen, TooManyTokens

logger = logging.getLogger("web.validation_pool")

#: Modules the fork server imports once, so that each worker forked from it starts warm.
PRELOAD: Final = ["graph.schema", "strawberry.schema.schema", "web.limits"]

#: (message, positions, extensions) of one error.
ErrorData = tuple[str, list[int], dict[str, Any] | None]

#: What a worker answers for one text (plain data: it crosses a pipe):
#: ("tokens",) past ``MAX_QUERY_TOKENS``; ("syntax", description, position);
#: ("refused", operations as (type, name), errors) for a document that must not run;
#: ("valid", the document pickled by ``_dump_document``, the screen's measure).
Verdict = tuple[Any, ...]

_worker: tuple[GraphQLSchema, DocumentCache] | None = None


#: How often a worker checks that the API process it works for is still there.
OWNER_CHECK_SECONDS: Final = 1.0


def _start_worker(
    owner: int,
    schema_factory: Callable[[], GraphQLSchema],
    max_tokens: int | None,
    screen: Screen | None,
    max_errors: int | None,
) -> None:
    global _worker
    checker = DocumentCache(0, max_tokens=max_tokens, screen=screen, max_errors=max_errors)
    _worker = (schema_factory(), checker)
    threading.Thread(target=_exit_without, args=(owner,), name="owner", daemon=True).start()


def _exit_without(owner: int) -> None:
    """End this worker once the API process it works for is gone.

    A worker waits on its task queue, whose write end multiprocessing hands it too, so it
    never sees that queue close when its owner is killed (SIGKILL, the OOM killer); and the
    fork server stays up while any process it forked holds its liveness pipe. Without this
    watch, a killed API process leaves both behind for good."""
    while not process_gone(owner):
        time.sleep(OWNER_CHECK_SECONDS)
    os._exit(0)


def process_gone(pid: int) -> bool:
    """Whether a process has ended. A killed process stays a zombie until its parent reaps
    it, and a parent may wait for our output to end before it does: a zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (not Linux): ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _check_in_worker(query: str, rules: tuple[type[ASTValidationRule], ...]) -> Verdict:
    """The whole check of a new text, as the event loop would make it
    (``DocumentCache.check_now``), reduced to a verdict."""
    assert _worker is not None, "the worker's initializer builds the schema"
    schema, checker = _worker
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
    errors = [(e.message, list(e.positions or ()), e.extensions or None) for e in checked.errors]
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
        # its own Source, the same text; the measure spares the event loop a walk of it
        return CheckedDocument(pickle.loads(verdict[1]), (), measured=verdict[2])
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
    errors = tuple(
        GraphQLError(message, source=source, positions=positions or None, extensions=extensions)
        for message, positions, extensions in verdict[2]
    )
    return CheckedDocument(DocumentNode(definitions=operations), errors, screened=True)


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


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Consume a hand-off's outcome that nobody awaits any more (its request was cancelled);
    a failed hand-off has already given its place back (``ValidationPool._submit``)."""
    if not done.cancelled():
        done.exception()


class ValidationUnavailable(Exception):
    """The worker process died while validating; the request may be retried."""


class ValidationPool:
    """Worker processes that check new documents for one app (``processes`` of them), with
    the app's token limit, screen (a picklable callable: ``functools.partial`` of
    ``web.limits.screen_document``) and error cap."""

    def __init__(
        self,
        lane: Lane,
        *,
        processes: int = 1,
        max_tokens: int | None = None,
        screen: Screen | None = None,
        max_errors: int | None = None,
        schema_factory: Callable[[], GraphQLSchema] = portal_graphql_schema,
    ) -> None:
        self.lane = lane
        self.processes = processes
        self.max_tokens = max_tokens
        self.screen = screen
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
                initargs=(
                    os.getpid(),
                    self.schema_factory,
                    self.max_tokens,
                    self.screen,
                    self.max_errors,
                ),
            )
        return self._executor

    async def check(
        self, client: Hashable, query: str, rules: Sequence[type[ASTValidationRule]]
    ) -> CheckedDocument:
        """``query`` parsed, screened and validated in a worker: the event loop only restores
        the worker's document (a valid one; a refused one is its errors and operations).
        Raises ``web.admission.LaneFull`` when ``client`` gets no place in the lane,
        ``ValidationUnavailable`` when the worker died, and what ``checked_of`` raises."""
        self.lane.enter(client)
        loop = asyncio.get_running_loop()

        def release(_: object = None) -> None:
            _call_soon(loop, self.lane.leave, client)

        submitted = self._submit_here(query, tuple(rules), release)
        if submitted is None:
            # Submitting may start a worker process, a round trip to the fork server that
            # takes a second on a busy machine: never on the event loop's thread. The hand-off
            # is shielded: a request cancelled while the thread had not yet started would
            # otherwise cancel the hand-off itself, and nothing would ever give its place in
            # the lane back.
            handoff = asyncio.ensure_future(
                asyncio.to_thread(self._submit, query, tuple(rules), release)
            )
            handoff.add_done_callback(_retrieve)
            submitted = await asyncio.shield(handoff)
        pool, job = submitted
        try:
            verdict = await asyncio.wrap_future(job)
        except BrokenProcessPool as exc:
            logger.error("a validation worker died; a new pool starts with the next document")
            with self._lock:
                self._discard(pool)
            raise ValidationUnavailable("the validation worker stopped") from exc
        return checked_of(verdict, query, self.max_tokens)

    def _submit_here(
        self,
        query: str,
        rules: tuple[type[ASTValidationRule], ...],
        release: Callable[[object], None],
    ) -> tuple[ProcessPoolExecutor, Future[Verdict]] | None:
        """Hand the document over on the event loop's thread when that cannot block: the pool
        runs all its workers (submitting then takes a lock and writes to a pipe: it forks
        nothing) and no thread is starting or replacing it. None otherwise, and then
        ``_submit`` does it from a thread. The thread's round trip cost the API process about
        0.2 ms of CPU per new large document (2.44 against 2.26 ms per check of the worst
        fragments document, parent process, ``ValidationPool.check`` alone)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            pool = self._executor
            if pool is None or len(pool._processes) < self.processes:
                return None
            try:
                job = pool.submit(_check_in_worker, query, rules)
            except BrokenProcessPool:  # a worker died since: ``_submit`` replaces the pool
                return None
        except BaseException:
            release(None)
            raise
        finally:
            self._lock.release()
        job.add_done_callback(release)
        return pool, job

    def _submit(
        self,
        query: str,
        rules: tuple[type[ASTValidationRule], ...],
        release: Callable[[object], None],
    ) -> tuple[ProcessPoolExecutor, Future[Verdict]]:
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
                    job = pool.submit(_check_in_worker, query, rules)
                except BrokenProcessPool:
                    self._discard(pool)
                    pool = self._pool()
                    job = pool.submit(_check_in_worker, query, rules)
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
