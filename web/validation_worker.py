"""A validation worker: the process that checks large new documents for one API process.

graphql-core's parser and validation are pure Python. For a text within the limits, parsing costs
5-10 ms (about 20 µs per token) and validation 5-15 ms (graphql-core's overlapping- fields rule,
which compares fields sharing a response name pairwise and took 10-40 ms, is settled first by the
linear pass of ``web.field_merging`` where it can be). On the event loop that is every other
request's wait. In a thread it is no better: the thread holds the GIL, and the event loop's thread
waits up to the switch interval (5 ms) for it each time it wants it back, so a trivial request
behind two validating threads took 170-300 ms (``bench/abuse.py``, session 4). In a process of its
own, the check runs on whatever core the OS finds, and the event loop waits for a pipe.

A worker is forked from a fork server that imported the schema's modules once (``PRELOAD``,
started in the background with the app: ``start_fork_server``), so it starts in a fraction of a
second (``start_worker``). Its life (``serve``): ``READY`` once its schema is built, then one
``(query, rules)`` at a time from its pipe and one verdict (``web.validation_verdict``) back on
it, each a frame ``web.pipe_frames`` reads; it ends when the API process closes its end of the
pipe or is gone. Which worker gets which document, and when, is the pool's
(``web.validation_pool``).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Final

from graphql import GraphQLSchema

from web.document_cache import DocumentCache, Screen
from web.validation_verdict import verdict_of

logger = logging.getLogger(__name__)

#: Modules the fork server imports once, so that each worker forked from it starts warm.
PRELOAD: Final = ["graph.schema", "strawberry.schema.schema", "web.limits", "web.validation_worker"]

#: A worker's first frame: its schema is built, the check of a document may start.
READY: Final = b"ready"

#: How often a worker checks that the API process it works for is still there.
OWNER_CHECK_SECONDS: Final = 1.0


def portal_graphql_schema() -> GraphQLSchema:
    """The API's schema, as validation sees it (extensions do not change the types)."""
    from graph.schema import build_schema

    return build_schema()._schema


@dataclass(frozen=True)
class WorkerChecks:
    """What a worker checks a document with: the schema (built in the worker by
    ``schema_factory``, a module-level function the fork server can pickle) and the limits
    of ``web.document_cache.DocumentCache`` (None: none)."""

    schema_factory: Callable[[], GraphQLSchema] = portal_graphql_schema
    max_tokens: int | None = None
    screen: Screen | None = None
    max_errors: int | None = None


@functools.cache
def _forkserver() -> ForkServerContext:
    """The forkserver context, with ``PRELOAD`` set once per process.

    The preload is a setting of the process's one fork server (a global of
    ``multiprocessing``), read whenever that server starts: by ``start_fork_server``, or by
    a worker's start when that comes first (a pool used without ``ValidationPool.start``) or
    finds the server gone (``ensure_running`` starts it again, with the setting as it is).
    So it is set before either may start it, and once is enough. (Two threads making the
    first call together may both set it, to the same list: harmless.)"""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_fork_server() -> None:
    """Start the fork server, with ``PRELOAD`` imported (blocks: run it in a thread)."""
    try:
        _forkserver()
        multiprocessing.forkserver.ensure_running()
    except Exception:  # the first document will try again, and report what fails
        logger.exception("could not start the validation fork server")


def start_worker(checks: WorkerChecks) -> tuple[BaseProcess, Connection]:
    """A worker process for this process, and this end of its pipe (blocks for a round trip
    to the fork server: run it in a thread). Both ends are closed here if the start fails.

    forkserver, never fork: the API process runs an event loop and threads (uvloop's,
    to_thread's, the driver's), and a forked copy of them inherits locks held by threads it
    does not have; a fork server is a clean, single-threaded process."""
    context = _forkserver()
    here, there = context.Pipe()
    try:
        process = context.Process(
            target=serve, args=(there, os.getpid(), checks), name="validation", daemon=True
        )
        process.start()
    except BaseException:
        here.close()
        raise
    finally:
        there.close()
    return process, here


def serve(requests: Connection, owner: int, checks: WorkerChecks) -> None:
    """A worker's life: ``READY`` once its schema is built, then one ``(query, rules)`` at a
    time from its pipe and one verdict back on it, until the API process closes its end (or
    is gone: ``_exit_without``). A pipe closed or reset mid-frame (the pool stopped) is the
    same end, not a traceback in the API's log."""
    checker = DocumentCache(
        0, max_tokens=checks.max_tokens, screen=checks.screen, max_errors=checks.max_errors
    )
    schema = checks.schema_factory()
    threading.Thread(target=_exit_without, args=(owner,), name="owner", daemon=True).start()
    answer = READY
    while True:
        try:
            requests.send_bytes(answer)
            query, rules = pickle.loads(requests.recv_bytes())
        except (EOFError, OSError):  # the pool closed (or reset) its end
            return
        try:
            verdict = verdict_of(schema, checker, query, rules)
        except Exception as exc:  # a fault of ours: reported, the worker goes on
            verdict = ("failed", f"{type(exc).__name__}: {exc}")
        answer = pickle.dumps(verdict, protocol=pickle.HIGHEST_PROTOCOL)


def _exit_without(owner: int) -> None:
    """End this worker once the API process it works for is gone (SIGKILL, the OOM killer).

    A worker waiting for its next document sees its pipe end then, and returns; but one busy
    with a document, or still building its schema, reads its pipe only when it is done, and
    the fork server stays up while any process it forked holds its liveness pipe. This watch
    ends the worker within ``OWNER_CHECK_SECONDS`` whatever it is doing (session 10's
    workers waited on a task queue that never ended with its owner: without the watch, they
    stayed for good)."""
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
