"""Checking in a worker process: the same verdict as on the event loop (errors, syntax and
token refusals, a valid document with its locations), and no lane place lost when a
request stops waiting (no services needed)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import multiprocessing.context
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvloop
from graphql import GraphQLError, GraphQLSyntaxError, parse, specified_rules

from config.env import SettingsError
from web.admission import Lane
from web.app import new_validation_pool
from web.document_cache import CheckedDocument, DocumentCache, TooManyTokens, validate_document
from web.limits import measure_document, screen_for
from web.settings import QueryLimits, load_settings
from web.validation_pool import ValidationPool
from web.validation_verdict import ValidationUnavailable, checked_of
from web.validation_worker import PRELOAD, WorkerChecks, portal_graphql_schema, process_gone, serve

SCHEMA = portal_graphql_schema()
LIMITS = QueryLimits(max_tokens=500, max_validation_errors=5)


@pytest_asyncio.fixture
async def pool() -> AsyncIterator[ValidationPool]:
    pool = ValidationPool(
        Lane(total=2, per_client=1), max_tokens=500, screen=screen_for(LIMITS), max_errors=5
    )
    pool.start()
    yield pool
    pool.close()


def invalid_document(tag: str) -> str:
    fields = " ".join(f"{tag}{i}" for i in range(25))
    return f'{{\n  shipmentByTrackingNumber(trackingNumber: "T") {{\n    {fields}\n  }}\n}}'


async def test_a_worker_reports_what_validation_on_the_event_loop_reports(
    pool: ValidationPool,
) -> None:
    query = invalid_document("zz")
    checked = await pool.check("alice", query, specified_rules)
    found = checked.fresh_errors()
    expected = validate_document(SCHEMA, parse(query), specified_rules, 5)
    assert [e.formatted for e in found] == [e.formatted for e in expected]
    assert checked.screened  # final: nothing of it runs
    assert len(found) == 6  # five, then graphql-core's note that it stopped
    assert found[0].locations is not None and found[0].locations[0].line == 3
    assert pool.lane.in_use == 0


async def test_a_running_worker_checks_every_next_document(
    pool: ValidationPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once its worker runs, a document reaches it without starting another (a round trip to
    the fork server); the verdict and the lane as before."""
    await pool.check("alice", invalid_document("aa"), specified_rules)  # starts the worker
    running = pool.worker_pids()

    def another_process(*_: object) -> None:
        raise AssertionError("started another worker")

    monkeypatch.setattr(pool, "_start_process", another_process)
    for tag in ("bb", "cc", "dd"):
        checked = await pool.check("alice", invalid_document(tag), specified_rules)
        assert checked.errors[0].message.startswith(f"Cannot query field '{tag}0' on type")
    assert pool.worker_pids() == running
    assert pool.lane.in_use == 0


async def test_a_request_that_stops_waiting_gives_its_place_back_when_the_worker_is_done(
    pool: ValidationPool,
) -> None:
    await pool.check("warm", "{ __typename }", specified_rules)
    (worker,) = pool.worker_pids()
    os.kill(worker, signal.SIGSTOP)  # it holds the document until we let it go on
    try:
        waiting = asyncio.create_task(pool.check("alice", invalid_document("a"), specified_rules))
        await asyncio.sleep(0.2)  # handed to the worker
        waiting.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.2)
        assert pool.lane.in_use == 1  # the worker still has it
    finally:
        os.kill(worker, signal.SIGCONT)
    async with asyncio.timeout(20):
        checked = await pool.check("bob", invalid_document("b"), specified_rules)
    assert checked.errors[0].message == "Cannot query field 'b0' on type 'Shipment'."
    assert pool.lane.in_use == 0  # given back once the worker finished


async def test_a_cancelled_request_leaves_no_unretrieved_error_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request that stopped waiting while its worker got stuck: the worker's loss fails a
    document nobody waits for, which must not be logged as an error nobody retrieved."""
    pool = ValidationPool(Lane(total=2, per_client=1), timeout_seconds=0.5)
    try:
        await pool.check("warm", invalid_document("w"), specified_rules)
        (stuck,) = pool.worker_pids()
        os.kill(stuck, signal.SIGSTOP)
        waiting = asyncio.create_task(pool.check("alice", invalid_document("a"), specified_rules))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        del waiting
        await until(lambda: pool.lane.in_use == 0)  # the stuck worker was killed
        gc.collect()
        await asyncio.sleep(0)
    finally:
        pool.close()
    assert "never retrieved" not in caplog.text


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    """Wait for ``condition`` on the event loop, failing the test past ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the pool did not get there in time")
        await asyncio.sleep(0.05)


async def test_a_valid_document_comes_back_with_its_locations(pool: ValidationPool) -> None:
    fields = " ".join(f'o{i}: order(id: "{i}") {{ id }}' for i in range(20))
    query = f"query Q {{\n  {fields}\n}}"
    checked = await pool.check("alice", query, specified_rules)
    assert not checked.errors and not checked.screened
    here = DocumentCache(0).check_now(SCHEMA, query, specified_rules).document
    assert checked.document == here  # the same nodes, at the same offsets
    there: Any = checked.document.definitions[0]
    error = GraphQLError("at o3", there.selection_set.selections[3])
    assert error.locations is not None and error.locations[0].line == 2
    assert error.source is not None and error.source.body == query
    # what the event loop's per-request limits would measure with no variables
    assert checked.measured == measure_document(SCHEMA, here, {}, LIMITS.default_page_size)


async def test_syntax_errors_and_too_many_tokens_read_as_on_the_event_loop(
    pool: ValidationPool,
) -> None:
    broken = "{ " + "a " * 100 + "( }"
    with pytest.raises(GraphQLSyntaxError) as in_worker:
        await pool.check("alice", broken, specified_rules)
    with pytest.raises(GraphQLSyntaxError) as here:
        DocumentCache(0).check_now(SCHEMA, broken, specified_rules)
    assert in_worker.value.formatted == here.value.formatted
    with pytest.raises(TooManyTokens):
        await pool.check("alice", "{ " + "__typename " * 600 + "}", specified_rules)


async def test_a_document_refused_by_the_screen_keeps_its_operations_only(
    pool: ValidationPool,
) -> None:
    query = "query Deep { " + "a { " * 13 + "b" + " }" * 14
    checked = await pool.check("alice", query, specified_rules)
    assert [e.extensions and e.extensions["limit"] for e in checked.errors] == ["MAX_QUERY_DEPTH"]
    operations: Any = checked.document.definitions
    assert [(o.operation.value, o.name.value) for o in operations] == [("query", "Deep")]


def test_a_verdict_larger_than_a_pipe_holds_is_read_under_uvloop() -> None:
    """uvicorn runs the API on uvloop, which makes a watched pipe non-blocking: a verdict
    larger than the pipe holds at once (a valid document of thousands of selections,
    pickled) arrives in pieces, and each piece must wait for the next, not fail the
    document as if its worker had died."""
    fields = " ".join(f"a{i}: __typename" for i in range(3000))
    query = f"query Many {{ {fields} }}"

    async def check() -> CheckedDocument:
        pool = ValidationPool(Lane(total=1, per_client=1))
        try:
            return await pool.check("alice", query, specified_rules)
        finally:
            pool.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        checked = runner.run(check())
    assert not checked.errors
    operation: Any = checked.document.definitions[0]
    assert len(operation.selection_set.selections) == 3000


def test_the_time_a_worker_gets_comes_from_the_environment() -> None:
    environ = {"DOCUMENT_CHECK_TIMEOUT_SECONDS": "0.75", "AUTH_HS256_SECRET": "s" * 32}
    assert new_validation_pool(load_settings(environ)).timeout_seconds == 0.75
    # below half a second, a busy machine's scheduling alone would fail documents
    with pytest.raises(SettingsError, match="DOCUMENT_CHECK_TIMEOUT_SECONDS"):
        load_settings({**environ, "DOCUMENT_CHECK_TIMEOUT_SECONDS": "0.25"})


async def test_a_stuck_worker_fails_its_document_alone_and_is_replaced() -> None:
    """A worker that stops answering (stuck, or stopped) costs the request it holds a clear
    error after ``timeout_seconds``, never a request that waits for ever; it is killed and
    the next document is checked by a new one."""
    pool = ValidationPool(Lane(total=2, per_client=1), max_tokens=500, timeout_seconds=1.0)
    try:
        await pool.check("warm", invalid_document("w"), specified_rules)
        (stuck,) = pool.worker_pids()
        os.kill(stuck, signal.SIGSTOP)
        try:
            async with asyncio.timeout(20):
                with pytest.raises(ValidationUnavailable, match="did not answer within 1 s"):
                    await pool.check("alice", invalid_document("s"), specified_rules)
            assert pool.lane.in_use == 0
            checked = await pool.check("alice", invalid_document("t"), specified_rules)
            assert checked.errors[0].message == "Cannot query field 't0' on type 'Shipment'."
            assert pool.worker_pids() != [stuck]
        finally:
            with contextlib.suppress(ProcessLookupError):  # the pool has killed it
                os.kill(stuck, signal.SIGKILL)
    finally:
        pool.close()


async def test_a_worker_killed_while_checking_fails_only_the_document_it_held(
    pool: ValidationPool,
) -> None:
    """The request whose document was in the killed worker gets a clear error at once; the
    one waiting behind it is checked by the new worker instead of failing with it."""
    await pool.check("warm", invalid_document("w"), specified_rules)
    (worker,) = pool.worker_pids()
    os.kill(worker, signal.SIGSTOP)  # it cannot answer before it dies
    held = asyncio.create_task(pool.check("alice", invalid_document("k"), specified_rules))
    behind = asyncio.create_task(pool.check("bob", invalid_document("b"), specified_rules))
    await asyncio.sleep(0.3)
    os.kill(worker, signal.SIGKILL)  # as if by the OOM killer
    async with asyncio.timeout(20):
        with pytest.raises(ValidationUnavailable, match="stopped"):
            await held
        checked = await behind
    assert checked.errors[0].message == "Cannot query field 'b0' on type 'Shipment'."
    assert pool.lane.in_use == 0


async def test_a_worker_that_starts_after_the_pool_closed_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An app that stops while its first worker is starting leaves no worker behind (it
    would otherwise wait for documents until the API process exits)."""
    pool = ValidationPool(Lane(total=1, per_client=1))
    started: list[int] = []
    start = pool._start_process

    def recorded() -> Any:
        worker = start()
        assert worker.process.pid is not None
        started.append(worker.process.pid)
        return worker

    monkeypatch.setattr(pool, "_start_process", recorded)
    checking = asyncio.create_task(pool.check("alice", invalid_document("c"), specified_rules))
    await asyncio.sleep(0)  # waiting for its worker
    pool.close()
    with pytest.raises(ValidationUnavailable, match="stopped"):
        await checking
    for _ in range(200):
        if started and process_gone(started[0]):
            break
        await asyncio.sleep(0.05)
    assert started and process_gone(started[0])
    assert pool.lane.in_use == 0


async def test_a_worker_stuck_on_a_document_when_the_pool_closes_is_stopped() -> None:
    """Stopping the app while a worker is stuck on a document: the worker is killed, not
    left to run (and hold 70-90 MB) until it finishes, if ever."""
    pool = ValidationPool(Lane(total=1, per_client=1))
    await pool.check("warm", invalid_document("w"), specified_rules)
    worker = next(iter(pool._idle))
    assert worker.process.pid is not None
    os.kill(worker.process.pid, signal.SIGSTOP)
    checking = asyncio.create_task(pool.check("alice", invalid_document("c"), specified_rules))
    await asyncio.sleep(0.1)  # handed to the stopped worker
    pool.close()
    with pytest.raises(ValidationUnavailable):
        await checking
    await until(lambda: worker.process.exitcode is not None)
    assert worker.process.exitcode == -signal.SIGKILL


def test_a_worker_whose_pool_closes_mid_frame_ends_without_a_traceback() -> None:
    """The pool closing its end while a document is still coming (the app stopping): the
    worker reads a reset or an end mid-frame and ends quietly."""
    here, there = multiprocessing.Pipe()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            serve(there, os.getpid(), WorkerChecks())
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    assert here.poll(60)  # its READY, left unread: closing with it resets the pipe
    os.write(here.fileno(), b"\x00\x00\x01\x00" + b"x" * 10)  # 10 bytes of 256
    here.close()
    worker.join(20)
    assert not worker.is_alive() and failures == []


async def test_a_worker_whose_pipe_closed_is_not_sent_a_signal(
    pool: ValidationPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose pipe ended has exited and been reaped by the fork server: its pid may
    be another process's by now, so the pool does not kill it."""
    await pool.check("warm", invalid_document("w"), specified_rules)
    (worker,) = pool._idle
    signals: list[str] = []
    monkeypatch.setattr(worker.process, "kill", lambda: signals.append("kill"))
    monkeypatch.setattr(worker.process, "terminate", lambda: signals.append("terminate"))
    assert worker.process.pid is not None
    os.kill(worker.process.pid, signal.SIGKILL)
    await until(lambda: not pool.worker_pids())
    assert signals == []


async def test_a_worker_that_died_idle_fails_no_document(pool: ValidationPool) -> None:
    """A worker that died while idle (before the loop read the end of its pipe) cannot take
    the next document: that document goes to its replacement, not back as an error."""
    await pool.check("warm", invalid_document("w"), specified_rules)
    (idle,) = pool._idle
    assert idle.process.pid is not None
    os.kill(idle.process.pid, signal.SIGKILL)
    # its pipe's end seen here without the loop: the loop must not see it first (a zombie
    # may still hold the pipe while its other thread exits, hence not ``process_gone``)
    assert idle.pipe.poll(20)
    async with asyncio.timeout(30):
        checked = await pool.check("alice", invalid_document("n"), specified_rules)
    assert checked.errors[0].message == "Cannot query field 'n0' on type 'Shipment'."
    assert pool.lane.in_use == 0 and pool.worker_pids() != [idle.process.pid]


async def test_a_document_whose_request_stopped_waiting_is_not_resent_when_its_worker_dies(
    pool: ValidationPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document larger than the pipe holds is written as the worker reads it; its request
    is cancelled (the client went away) before the rest is written, then the worker dies
    and the next write fails. A document that never reached its worker goes back once to
    the head of the queue, but not this one: nobody waits for its verdict. Its client's
    place in the lane comes back at once, and no worker starts to check it."""
    await pool.check("warm", invalid_document("w"), specified_rules)
    (worker,) = pool._idle
    pid = worker.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it reads nothing more of the document
    starts: list[int] = []
    start = pool._start_process

    def recorded() -> Any:
        starts.append(1)
        return start()

    monkeypatch.setattr(pool, "_start_process", recorded)
    large = "{ " + "__typename " * 400_000 + "}"  # 4 MB: far more than a pipe holds
    waiting = asyncio.create_task(pool.check("alice", large, specified_rules))
    await until(lambda: worker.unsent is not None)  # the rest waits for room in the pipe
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert pool.lane.in_use == 1  # the worker holds the document until it is done with it
    os.kill(pid, signal.SIGKILL)
    assert worker.pipe.poll(20)  # gone; the loop has not read the end of its pipe yet
    # The loop's call when the pipe had room again, come before its read of the pipe's end
    # (the worker died between the two): the write fails.
    pool._send_rest(worker)
    assert pool.lane.in_use == 0
    await asyncio.sleep(0.5)  # a start, had the document been resent, would have begun
    assert starts == [] and pool.worker_pids() == []
    async with asyncio.timeout(30):  # the next document gets a worker as usual
        checked = await pool.check("bob", invalid_document("b"), specified_rules)
    assert checked.errors[0].message == "Cannot query field 'b0' on type 'Shipment'."
    assert starts == [1] and pool.lane.in_use == 0


def slow_schema() -> Any:
    """The portal's schema, built as slowly as a fresh worker on a busy machine builds it."""
    time.sleep(1.5)
    return portal_graphql_schema()


async def test_a_fresh_worker_gets_its_whole_time_for_the_document() -> None:
    """A worker's start-up (building its schema) does not count against the document's
    ``timeout_seconds``: the first document after a start is checked, not refused."""
    pool = ValidationPool(
        Lane(total=1, per_client=1), schema_factory=slow_schema, timeout_seconds=1
    )
    try:
        async with asyncio.timeout(30):
            checked = await pool.check("alice", invalid_document("f"), specified_rules)
        assert checked.errors[0].message == "Cannot query field 'f0' on type 'Shipment'."
    finally:
        pool.close()


def slower_schema() -> Any:
    """A schema whose build outlasts the test (a worker stuck starting)."""
    time.sleep(30)
    return portal_graphql_schema()


async def test_a_worker_still_starting_when_the_pool_closes_is_stopped() -> None:
    """A worker still building its schema never reads its pipe until it is done: closing
    the pool stops it rather than leave it for as long as its build takes."""
    pool = ValidationPool(Lane(total=1, per_client=1), schema_factory=slower_schema)
    waiting = asyncio.ensure_future(pool.check("alice", invalid_document("s"), specified_rules))
    try:
        await until(lambda: any(start.worker is not None for start in pool._starting))
        [pid] = [s.worker.process.pid for s in pool._starting if s.worker is not None]
        assert pid is not None
    finally:
        pool.close()
    with pytest.raises(ValidationUnavailable):
        await waiting
    await until(lambda: process_gone(pid), seconds=5)


async def test_a_start_that_never_returns_stalls_no_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's start that hangs (a fork server that does not answer): the document
    waiting gets a clear error within its deadline, the start stops counting after its
    bound, and its process, when it turns up at last, is stopped."""
    pool = ValidationPool(Lane(total=1, per_client=1), timeout_seconds=0.5, start_seconds=0.5)
    go_on = threading.Event()
    late: list[int] = []
    start = pool._start_process

    def hanging() -> Any:
        go_on.wait(30)
        worker = start()
        assert worker.process.pid is not None
        late.append(worker.process.pid)
        return worker

    monkeypatch.setattr(pool, "_start_process", hanging)
    try:
        async with asyncio.timeout(10):
            with pytest.raises(ValidationUnavailable, match="no validation worker within 1 s"):
                await pool.check("alice", invalid_document("h"), specified_rules)
        assert pool.lane.in_use == 0
        monkeypatch.setattr(pool, "_start_process", start)
        go_on.set()
        await until(lambda: len(late) >= 1 and all(process_gone(pid) for pid in late))
        async with asyncio.timeout(30):
            checked = await pool.check("alice", invalid_document("g"), specified_rules)
        assert checked.errors[0].message == "Cannot query field 'g0' on type 'Shipment'."
    finally:
        go_on.set()
        pool.close()


async def test_a_start_that_never_returns_is_not_started_again_and_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a start hangs, documents keep failing within their deadline, but no further
    start thread is launched per start bound: they would fill the loop's default executor."""
    pool = ValidationPool(Lane(total=1, per_client=1), timeout_seconds=0.5, start_seconds=0.5)
    go_on = threading.Event()
    calls: list[int] = []

    def hanging() -> Any:
        calls.append(1)
        go_on.wait(30)
        raise OSError("the fork server never answered")

    monkeypatch.setattr(pool, "_start_process", hanging)
    try:
        for name in ("a", "b", "c"):
            async with asyncio.timeout(10):
                with pytest.raises(ValidationUnavailable):
                    await pool.check("alice", invalid_document(name), specified_rules)
        assert len(calls) == 1
    finally:
        go_on.set()
        pool.close()


async def test_a_valid_verdict_whose_document_cannot_be_restored_is_a_worker_fault() -> None:
    with pytest.raises(ValidationUnavailable, match="could not be read"):
        checked_of(("valid", b"not a pickle", None), "{ a }", None)


async def test_a_text_that_cannot_be_sent_keeps_no_place_in_the_lane(pool: ValidationPool) -> None:
    class Unpicklable(specified_rules[0]):  # type: ignore[misc,valid-type]
        """A rule defined in a function: the worker could not import it."""

    with pytest.raises((pickle.PicklingError, AttributeError)):
        await pool.check("alice", invalid_document("p"), [Unpicklable])
    assert pool.lane.in_use == 0


async def test_an_unreadable_verdict_fails_its_document_and_its_worker_is_replaced(
    pool: ValidationPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pool.check("warm", invalid_document("w"), specified_rules)
    (first,) = pool.worker_pids()

    def unreadable(data: bytes) -> Any:
        raise pickle.UnpicklingError("not a verdict")

    monkeypatch.setattr(pickle, "loads", unreadable)  # in the API process only
    async with asyncio.timeout(20):
        with pytest.raises(ValidationUnavailable, match="failed"):
            await pool.check("alice", invalid_document("u"), specified_rules)
    assert pool.lane.in_use == 0
    monkeypatch.undo()
    async with asyncio.timeout(30):
        checked = await pool.check("alice", invalid_document("v"), specified_rules)
    assert checked.errors[0].message == "Cannot query field 'v0' on type 'Shipment'."
    assert pool.worker_pids() != [first]


def test_a_start_that_fails_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(self: object) -> None:
        raise OSError("the fork server is gone")

    monkeypatch.setattr(multiprocessing.context.ForkServerProcess, "start", refused)
    pool = ValidationPool(Lane(total=1, per_client=1))
    before = len(os.listdir("/proc/self/fd"))
    try:
        pool._start_process()
    except OSError:  # its traceback (which the error's reporting keeps) holds no pipe open
        assert len(os.listdir("/proc/self/fd")) == before
    else:
        pytest.fail("the start did not fail")


async def test_a_document_sent_after_the_pool_closed_is_refused_at_once() -> None:
    """A request still arriving while the app stops gets a clear error, never a wait for a
    worker that the closed pool would stop as soon as it started."""
    pool = ValidationPool(Lane(total=1, per_client=1))
    pool.close()
    async with asyncio.timeout(5):
        with pytest.raises(ValidationUnavailable, match="stopped"):
            await pool.check("alice", invalid_document("late"), specified_rules)
    assert pool.lane.in_use == 0


KILLED_OWNER = """
import asyncio, json, multiprocessing.forkserver, os, signal, sys
from graphql import specified_rules
from config.env import SettingsError
from web.admission import Lane
from web.app import new_validation_pool
from web.validation_pool import ValidationPool

async def main() -> None:
    pool = ValidationPool(Lane(total=1, per_client=1), max_tokens=500)
    await pool.check("warm", sys.argv[1], specified_rules)
    workers = pool.worker_pids()
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    print(json.dumps([server, *workers]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_a_killed_api_process_leaves_no_fork_server_or_worker_behind(tmp_path: Path) -> None:
    """SIGKILL gives the API no chance to stop its workers: they and the fork server must
    notice and end on their own (they would otherwise wait forever, 70-90 MB each)."""
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # Files, not pipes: what outlives the owner holds its output open.
        owner = subprocess.run(
            [sys.executable, "-c", KILLED_OWNER, invalid_document("k")],
            stdout=stdout,
            stderr=stderr,
            timeout=120,
            check=False,
        )
    assert owner.returncode == -signal.SIGKILL, err.read_text()
    left = json.loads(out.read_text())
    assert len(left) == 2 and all(isinstance(pid, int) for pid in left)
    deadline = time.monotonic() + 15
    while any(not process_gone(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in left if not process_gone(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


WORKER_STARTS_THE_SERVER = """
import multiprocessing.forkserver
from pathlib import Path
from web.validation_worker import WorkerChecks, start_worker

process, pipe = start_worker(WorkerChecks())
server = multiprocessing.forkserver._forkserver._forkserver_pid
print(Path(f"/proc/{server}/cmdline").read_bytes().decode())
process.kill()
process.join(30)
"""


def test_a_fork_server_a_worker_start_brings_up_imports_the_schema_modules() -> None:
    """A worker's start starts the fork server when none is running (a pool never
    ``start``ed, or its server gone): that server, too, imports ``PRELOAD`` first, so the
    workers it forks start warm (the preload is set once per process, before either start
    may bring the server up)."""
    run = subprocess.run(
        [sys.executable, "-c", WORKER_STARTS_THE_SERVER],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert repr(PRELOAD) in run.stdout, run.stdout
