"""The event loop's pool of validation workers: which worker checks which document, and when.

A large new document is checked in a worker process (``web.validation_worker``: why a process,
and the worker's side of the pipe; ``web.validation_verdict``: what it answers). This module
is the API process's side: it admits documents, queues them, starts, feeds, watches and
replaces workers, and answers each request with its worker's verdict.

Admission (``web.admission.Lane``): at most ``DOCUMENT_CHECK_QUEUE`` documents wait or run
per process, at most ``DOCUMENT_CHECK_PER_CLIENT`` from one client; a request that finds no
place gets ``RATE_LIMITED`` (HTTP 429, ``Retry-After``) at once. Texts already validated
never enter the lane (``web.document_cache`` answers them), so a client repeating its
queries is never limited by this, however many it sends.

The pool starts workers when the first document needs one (from a thread, never blocking the
event loop). Each worker has a pipe of its own, which the event loop watches: no thread
carries verdicts back (``ValidationPool``). A worker that dies (killed, out of memory) or does
not answer within ``DOCUMENT_CHECK_TIMEOUT_SECONDS`` fails the one document it held with
``ValidationUnavailable`` (503 ``SERVICE_UNAVAILABLE``, ``retryAfter``) and is replaced for
the next; the documents waiting behind it are checked by its replacement.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import pickle
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Final

from graphql import ASTValidationRule, GraphQLSchema

from web.admission import Lane
from web.document_cache import CheckedDocument, Screen
from web.pipe_frames import Frames, framed
from web.validation_verdict import ValidationUnavailable, Verdict, checked_of
from web.validation_worker import (
    READY,
    WorkerChecks,
    portal_graphql_schema,
    start_fork_server,
    start_worker,
)

logger = logging.getLogger(__name__)

#: The most read from a worker's pipe at once (a verdict larger comes in several reads).
READ_BYTES: Final = 1 << 20

#: How long a worker may take to start (a round trip to the fork server, then building its
#: schema: 0.4-0.8 s, a few seconds on a busy machine) before its start no longer counts.
START_SECONDS: Final = 10.0


class _ProtocolError(Exception):
    """A worker sent what the pool did not ask for."""


@dataclass(eq=False)
class _Job:
    """One document to check, for ``client`` (who holds a place in the lane until a worker
    is done with it), and the request's wait for the verdict. ``overdue`` is its deadline:
    for a worker while it waits, then for the check once a worker has it."""

    client: Hashable
    message: bytes
    verdict: asyncio.Future[Verdict]
    overdue: asyncio.TimerHandle | None = None
    #: Put back once already (its worker had died before it could read the document).
    resent: bool = False


@dataclass(eq=False)
class _Start:
    """A worker starting: counted until its ``READY`` or until ``overdue`` passes."""

    overdue: asyncio.TimerHandle | None = None
    worker: _Worker | None = None


@dataclass(eq=False)
class _Worker:
    """A worker process, the end of its pipe in the API process, and the job it holds."""

    process: BaseProcess
    pipe: Connection
    job: _Job | None = None
    #: What has come of the verdict being read, and what is left to write of the document.
    frames: Frames = field(default_factory=Frames)
    unsent: memoryview | None = None
    #: Until its ``READY`` frame: the start it is part of.
    start: _Start | None = None


class ValidationPool:
    """Worker processes that check new documents for one app (``processes`` of them), with
    the app's token limit, screen (a picklable callable: ``functools.partial`` of
    ``web.limits.screen_document``) and error cap.

    Each worker has a pipe of its own whose end here the event loop watches
    (``add_reader``): a document goes to an idle worker from the loop's thread, its verdict
    is read by the loop when it arrives. Session 10's ``ProcessPoolExecutor`` handed every
    verdict through a thread of its own, which woke for each one and took the GIL from the
    loop; a dead worker there broke the whole pool, failing every document waiting behind
    the one it held. Here only the document in a dead or overdue worker fails
    (``ValidationUnavailable``), and the worker is replaced for the next.

    Nothing waits without a bound: a document waits for a worker at most
    ``start_seconds + timeout_seconds``, a worker's check takes at most ``timeout_seconds``
    (counted from the document's hand-over to a ready worker, never its start-up), and a
    start that has not brought a ready worker within ``start_seconds`` no longer counts
    (its process, should it turn up, is stopped)."""

    def __init__(
        self,
        lane: Lane,
        *,
        processes: int = 1,
        max_tokens: int | None = None,
        screen: Screen | None = None,
        max_errors: int | None = None,
        schema_factory: Callable[[], GraphQLSchema] = portal_graphql_schema,
        timeout_seconds: float = 5.0,
        start_seconds: float = START_SECONDS,
    ) -> None:
        self.lane = lane
        self.processes = processes
        self.checks = WorkerChecks(schema_factory, max_tokens, screen, max_errors)
        self.timeout_seconds = timeout_seconds
        self.start_seconds = start_seconds
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting: set[_Start] = set()
        #: Start threads not yet returned, even past their bound: a fork server that does
        #: not answer must not gather a thread per bound while documents keep coming.
        self._launching = 0
        self._waiting: deque[_Job] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def worker_pids(self) -> list[int]:
        """The running workers' process ids (for tests and operators)."""
        return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid is not None]

    async def check(
        self, client: Hashable, query: str, rules: Sequence[type[ASTValidationRule]]
    ) -> CheckedDocument:
        """``query`` parsed, screened and validated in a worker: the event loop only restores
        the worker's document (a valid one; a refused one is its errors and operations).
        Raises ``web.admission.LaneFull`` when ``client`` gets no place in the lane,
        ``ValidationUnavailable`` when no worker was free in time, or the worker died or did
        not answer in time, and what ``checked_of`` raises.

        The place in the lane is given back when a worker is done with the document, not
        when the request stops waiting (a client that disconnects does not free the worker
        sooner); a document still waiting for a worker is dropped with its request."""
        if self._closed:  # the app is stopping: no worker would start
            raise ValidationUnavailable("the validation pool stopped")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._forget_workers()  # workers watched by a loop that has ended
            self._loop = loop
        # pickled before the lane: a text that cannot be must not keep a place
        message = pickle.dumps((query, tuple(rules)), protocol=pickle.HIGHEST_PROTOCOL)
        self.lane.enter(client)
        job = _Job(client, message, loop.create_future())
        self._set_wait_deadline(job)
        self._waiting.append(job)
        self._dispatch()
        try:
            verdict = await asyncio.shield(job.verdict)
        except asyncio.CancelledError:
            job.verdict.cancel()  # nobody will retrieve what a worker's loss would set
            if job in self._waiting:
                self._waiting.remove(job)
                self._finish(job, None)
            raise
        if verdict[0] == "failed":
            logger.error("validation failed in a worker: %s", verdict[1])
            raise ValidationUnavailable("the validation worker failed")
        return checked_of(verdict, query, self.checks.max_tokens)

    def _dispatch(self) -> None:
        """Hand waiting documents to idle workers; start workers for the rest, up to
        ``processes``."""
        assert self._loop is not None
        while self._waiting and self._idle:
            worker, job = self._idle.pop(), self._waiting.popleft()
            worker.job = job
            self._busy.add(worker)
            if job.overdue is not None:
                job.overdue.cancel()
            job.overdue = self._loop.call_later(self.timeout_seconds, self._overdue, worker, job)
            self._send(worker, framed(job.message))
        starting = max(len(self._starting), self._launching)
        missing = self.processes - len(self._idle) - len(self._busy) - starting
        for _ in range(min(missing, len(self._waiting))):
            start = _Start()
            start.overdue = self._loop.call_later(self.start_seconds, self._start_overdue, start)
            self._starting.add(start)
            # a round trip to the fork server (a second on a busy machine): not on the loop
            self._launching += 1
            started = asyncio.ensure_future(asyncio.to_thread(self._start_process))
            started.add_done_callback(functools.partial(self._started, start))

    def _start_process(self) -> _Worker:
        """A new worker, not yet ``READY`` (in a thread: a round trip to the fork server)."""
        process, pipe = start_worker(self.checks)
        return _Worker(process, pipe)

    def _started(self, start: _Start, started: asyncio.Future[_Worker]) -> None:
        """A worker's process has started: it is watched, and idle once ``READY``."""
        self._launching -= 1
        failed = started.cancelled() or started.exception() is not None
        if start not in self._starting or self._closed or self._loop is None:
            if not failed:  # past its bound, or the pool closed: never used
                self._stop(started.result(), kill=True)
            return
        if failed:
            error = started.exception() if not started.cancelled() else None
            logger.error("could not start a validation worker", exc_info=error)
            self._start_failed(start)
            return
        worker = start.worker = started.result()
        worker.start = start
        os.set_blocking(worker.pipe.fileno(), False)  # as uvloop makes it: on any loop
        self._loop.add_reader(worker.pipe.fileno(), self._readable, worker)

    def _start_overdue(self, start: _Start) -> None:
        if start not in self._starting:
            return
        logger.error("a validation worker did not start within %g s", self.start_seconds)
        self._starting.discard(start)
        if start.worker is not None:
            self._stop(start.worker, kill=True)
        self._dispatch()

    def _start_failed(self, start: _Start) -> None:
        """No worker came of ``start``: the documents waiting fail at once rather than start
        worker after worker (a schema that cannot be built fails every start)."""
        self._end_start(start)
        while self._waiting:
            self._finish(self._waiting.popleft(), ValidationUnavailable("no worker could start"))

    def _end_start(self, start: _Start) -> None:
        self._starting.discard(start)
        if start.overdue is not None:
            start.overdue.cancel()

    def _ready(self, worker: _Worker, start: _Start) -> None:
        worker.start = None
        self._end_start(start)
        self._idle.append(worker)

    def _send(self, worker: _Worker, data: bytes | memoryview) -> None:
        """Write what the pipe takes now; the rest when it can take more (``add_writer``):
        the loop never waits for a worker."""
        assert self._loop is not None
        try:
            sent = os.write(worker.pipe.fileno(), data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._unreachable(worker, exc)
            return
        left = memoryview(data)[sent:]
        if left and worker.unsent is None:
            self._loop.add_writer(worker.pipe.fileno(), self._send_rest, worker)
        elif not left and worker.unsent is not None:
            self._loop.remove_writer(worker.pipe.fileno())
        worker.unsent = left if left else None

    def _send_rest(self, worker: _Worker) -> None:
        if worker.unsent is not None:
            self._send(worker, worker.unsent)

    def _unreachable(self, worker: _Worker, cause: OSError) -> None:
        """``worker``'s pipe refused the document (it died idle): the document never reached
        it, so it goes back to the head of the queue, once, for the worker's replacement."""
        job = worker.job
        if job is None or job.resent:
            self._died(worker, cause)
            return
        if job.verdict.done():  # its request stopped waiting: nobody to check it for
            worker.job = None
            self._stop(worker, kill=False)
            self._finish(job, None)
            self._dispatch()
            return
        pid = worker.process.pid
        logger.error("validation worker %s stopped (%r): its document goes to the next", pid, cause)
        worker.job, job.resent = None, True
        self._stop(worker, kill=False)
        self._set_wait_deadline(job)
        self._waiting.appendleft(job)
        self._dispatch()

    def _readable(self, worker: _Worker) -> None:
        """Read what has come of ``worker``'s verdict; answer its document once whole."""
        try:
            data = os.read(worker.pipe.fileno(), READ_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self._died(worker, exc)
            return
        if not data:
            self._died(worker, EOFError("the pipe closed"))
            return
        try:
            for message in worker.frames.feed(data):
                self._take(worker, message)
        except Exception:  # a bad frame, or a fault of ours: never a request left waiting
            logger.exception("validation worker %s: unreadable answer", worker.process.pid)
            self._lose(worker, ValidationUnavailable("the validation worker failed"), kill=True)
            return
        self._dispatch()

    def _take(self, worker: _Worker, message: bytes) -> None:
        """One whole message from ``worker``: its ``READY``, or the verdict on its job."""
        if worker.start is not None:
            if message != READY:
                raise _ProtocolError("a message before READY")
            self._ready(worker, worker.start)
            return
        if worker.job is None or message == READY:
            raise _ProtocolError("a message nobody asked for")
        verdict = pickle.loads(message)
        job, worker.job = worker.job, None
        self._busy.discard(worker)
        self._idle.append(worker)
        self._finish(job, verdict)

    def _died(self, worker: _Worker, cause: BaseException) -> None:
        logger.error(
            "validation worker %s stopped (%r, exit code %s); a new one starts",
            worker.process.pid,
            cause,
            worker.process.exitcode,
        )
        # its pipe closed: it has exited (its pid may be another process's already)
        self._lose(worker, ValidationUnavailable("the validation worker stopped"), kill=False)

    def _overdue(self, worker: _Worker, job: _Job) -> None:
        if worker.job is job:
            seconds = f"{self.timeout_seconds:g}"
            logger.error("a validation worker did not answer within %s s: killed", seconds)
            self._lose(
                worker,
                ValidationUnavailable(f"the validation worker did not answer within {seconds} s"),
                kill=True,
            )

    def _set_wait_deadline(self, job: _Job) -> None:
        """``job`` may wait for a worker as long as one takes to start and then to check."""
        assert self._loop is not None
        if job.overdue is not None:
            job.overdue.cancel()
        wait = self.start_seconds + self.timeout_seconds
        job.overdue = self._loop.call_later(wait, self._waited_too_long, job, wait)

    def _waited_too_long(self, job: _Job, seconds: float) -> None:
        if job in self._waiting:
            logger.error("no validation worker was free within %g s", seconds)
            self._waiting.remove(job)
            self._finish(job, ValidationUnavailable(f"no validation worker within {seconds:g} s"))

    def _lose(self, worker: _Worker, error: ValidationUnavailable, *, kill: bool) -> None:
        """Stop ``worker`` (dead, overdue or unreadable) and fail the document it held; one
        lost while starting fails the documents waiting (its replacement would fare alike)."""
        if worker.start is not None and worker.start in self._starting:
            self._start_failed(worker.start)
        self._stop(worker, kill=kill)
        if worker.job is not None:
            self._finish(worker.job, error)
            worker.job = None
        self._dispatch()

    def _stop(self, worker: _Worker, *, kill: bool) -> None:
        self._busy.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(worker.pipe.fileno())
            if worker.unsent is not None:
                self._loop.remove_writer(worker.pipe.fileno())
        worker.pipe.close()  # an idle worker reads the end of its pipe and exits
        if kill:
            worker.process.kill()

    def _finish(self, job: _Job, outcome: Verdict | ValidationUnavailable | None) -> None:
        """Give ``job``'s place back and answer its request (``None``: it has stopped)."""
        if job.overdue is not None:
            job.overdue.cancel()
        self.lane.leave(job.client)
        if job.verdict.done() or outcome is None:
            return  # its request was cancelled
        if isinstance(outcome, ValidationUnavailable):
            job.verdict.set_exception(outcome)
        else:
            job.verdict.set_result(outcome)

    def _forget_workers(self) -> None:
        """Stop every worker (a busy one is killed: it may be stuck) and fail every job."""
        starting = [s.worker for s in self._starting if s.worker is not None]
        for start in list(self._starting):
            self._end_start(start)
        for worker in (*self._idle, *self._busy, *starting):
            # a busy one may be stuck; a starting one may never read its pipe (its schema
            # still building); neither has closed its pipe, so its pid is still its own
            self._stop(worker, kill=worker.job is not None or worker in starting)
            if worker.job is not None:
                self._finish(worker.job, ValidationUnavailable("the validation pool stopped"))
        while self._waiting:
            self._finish(self._waiting.popleft(), ValidationUnavailable("the pool stopped"))

    def start(self) -> None:
        """Start the fork server (once per interpreter) in a background thread, so that the
        first large new document waits for a fork, not for the schema's modules to import.
        Workers themselves start with the first document that needs one (again after
        ``close``: an app may be started anew)."""
        self._closed = False
        threading.Thread(target=start_fork_server, name="fork-server-start", daemon=True).start()

    def close(self) -> None:
        """Stop the workers (an idle one reads the end of its pipe; a busy one, which may be
        stuck, is killed; one still starting is stopped when it turns up); every document
        waiting or being checked gets ``ValidationUnavailable``."""
        self._closed = True
        self._forget_workers()
