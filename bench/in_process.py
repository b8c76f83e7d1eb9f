"""The API and the ceiling in this process: raw ASGI calls, process CPU per request.

``bench/api.py --in-process`` runs this instead of the servers. Each query goes, by
``--concurrency`` callers at once for ``--seconds`` (in ``--rounds`` slices alternating the
two apps), straight into ``web.app.create_app`` and into the ceiling's app
(``bench/api_ceiling.py``), on uvloop as uvicorn runs them: no HTTP client, no HTTP parsing,
no other process of ours. The CPU of this process per request is then the app's own (the
callers' share is a few microseconds), without the noise of a separate client competing
for the two cores: the figure for attributing the API's CPU and for comparing two versions
of the code, alternately, on a shared machine. The store's CPU is in its own processes and
counted on neither side. Both apps answer the same requests the server mode sends
(``make_call``), and every answer must succeed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.types import Message

from bench.results import Result, closed_loop_clients
from web.app import create_app
from web.settings import load_settings

#: The ASGI server's connection details, as uvicorn would give them.
_CLIENT: Final = ("127.0.0.1", 50000)
_SERVER: Final = ("127.0.0.1", 8000)


async def asgi_call(app: Starlette, call: Any) -> tuple[int, bytes]:
    """One request into ``app`` as an ASGI server makes it: (status, body)."""
    body = orjson.dumps(call.json) if call.json is not None else b""
    headers = [(k.lower().encode(), v.encode()) for k, v in (call.headers or {}).items()]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": call.method,
        "scheme": "http",
        "path": call.url,
        "raw_path": call.url.encode(),
        "query_string": urlencode(call.params or {}).encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": _CLIENT,
        "server": _SERVER,
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the answer is being made
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def one_slice(
    app: Starlette,
    calls: Callable[[random.Random], Any],
    succeeded: Callable[[int, bytes], bool],
    concurrency: int,
    seconds: float,
) -> Result:
    """``concurrency`` callers, each making its next call as soon as the last returned;
    this process's CPU."""

    async def step(rng: random.Random, result: Result) -> None:
        since = time.perf_counter()
        status, body = await asgi_call(app, calls(rng))
        if succeeded(status, body):
            result.latencies.append(time.perf_counter() - since)
        else:
            result.failures += 1

    return await closed_loop_clients(concurrency, seconds, time.process_time, step)


def api_app(environ: dict[str, str]) -> Starlette:
    """The API as ``python -m web`` builds it from ``environ``, without ``web.live``."""
    return create_app(load_settings(environ), live=False)


def print_slices(results: dict[tuple[str, str], Result], queries: list[str]) -> None:
    print()
    print("in process (raw ASGI calls), process CPU per request:")
    print(
        f"{'query':<12} | {'api req/s':>9} {'api cpu ms':>10} | {'ceiling req/s':>13} "
        f"{'ceiling cpu ms':>14} | {'multiple':>8} {'fail':>4}"
    )
    for query in queries:
        api, ceiling = results[(query, "api")], results[(query, "ceiling")]
        multiple = api.cpu_ms_per_request / ceiling.cpu_ms_per_request
        print(
            f"{query:<12} | {api.rate:>9.1f} {api.cpu_ms_per_request:>10.2f} | "
            f"{ceiling.rate:>13.1f} {ceiling.cpu_ms_per_request:>14.2f} | {multiple:>7.1f}x "
            f"{api.failures + ceiling.failures:>4}"
        )


async def compare_in_process(
    apps: dict[str, Starlette],
    queries: list[str],
    calls_for: Callable[[str, str], Callable[[random.Random], Any]],
    succeeded: Callable[[str, int, bytes], bool],
    *,
    concurrency: int,
    seconds: float,
    rounds: int,
) -> dict[tuple[str, str], Result]:
    """Each query on each app (their lifespans running), warmed up for a second, then in
    ``rounds`` slices alternating the apps so both see the same background load."""
    results: dict[tuple[str, str], Result] = {}
    for query in queries:
        for name, app in apps.items():
            warm = await one_slice(
                app, calls_for(query, name), _checker(succeeded, name), concurrency, 1.0
            )
            if warm.failures or not warm.latencies:
                raise RuntimeError(f"{name} {query}: {warm.failures} of the warm-up calls failed")
        for _ in range(rounds):
            for name, app in apps.items():
                part = await one_slice(
                    app,
                    calls_for(query, name),
                    _checker(succeeded, name),
                    concurrency,
                    seconds / rounds,
                )
                results.setdefault((query, name), Result()).add(part)
        print(f"  {query}: done", flush=True)
    print_slices(results, queries)
    return results


def _checker(
    succeeded: Callable[[str, int, bytes], bool], target: str
) -> Callable[[int, bytes], bool]:
    return lambda status, body: succeeded(target, status, body)
