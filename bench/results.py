"""What a benchmark slice measured: one shape for the server and the in-process modes."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by rank (NaN for none): one definition for every
    benchmark's p50 and p99."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Result:
    """Requests answered (their latencies), failed or abandoned, over ``elapsed`` seconds of
    wall time, ``cpu`` seconds of the measured process(es) and ``driver_cpu`` seconds of the
    process sending the requests (its share of the machine, taken from what it measures)."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    unfinished: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    driver_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu * 1000 / len(self.latencies) if self.latencies else float("nan")

    @property
    def driver_cpu_ms_per_request(self) -> float:
        return self.driver_cpu * 1000 / len(self.latencies) if self.latencies else float("nan")

    def add(self, other: Result) -> None:
        """Fold in another slice of the same measurement."""
        self.latencies.extend(other.latencies)
        self.failures += other.failures
        self.unfinished += other.unfinished
        self.elapsed += other.elapsed
        self.cpu += other.cpu
        self.driver_cpu += other.driver_cpu


async def closed_loop_clients(
    concurrency: int,
    seconds: float,
    cpu_seconds: Callable[[], float],
    step: Callable[[random.Random, Result], Awaitable[None]],
) -> Result:
    """``concurrency`` clients, each making its next ``step`` (one request, recorded in the
    result) as soon as its last returned, for ``seconds``; ``cpu_seconds`` is the CPU clock
    of what is measured, read before and after."""
    result = Result()
    cpu_before = cpu_seconds()
    driver_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds

    async def client(index: int) -> None:
        rng = random.Random(index)
        while time.perf_counter() < deadline:
            await step(rng, result)

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    result.cpu = cpu_seconds() - cpu_before
    result.driver_cpu = time.process_time() - driver_before
    return result
