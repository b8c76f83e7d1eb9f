"""What publishing a batch's change notices costs the projector: CPU per notice, and wall.

The finish of a catch-up's batch publishes its notices while it writes the search documents
(``projections.runner.finish_batch``); ``bench/projector.py``'s phase table gives that phase
only as a whole, beside everything else a run does. This publishes the same notices the
same way (``runner.send_notices`` with the projector's own notices producer, then waits
for every acknowledgement, as ``publish_outcome`` does) round after round into a fresh
changes topic, and prints the process's CPU per notice (the producer's sender runs in this
process too) and the wall per round. Compare two revisions side by side with
``bench/compare.sh``::

    bench/compare.sh -n 2 REV_A REV_B -- bench/notices.py [--notices 20000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka.admin import AIOKafkaAdminClient

from bench.arguments import add_broker_argument
from projections import runner
from projections.metrics import ProjectorMetrics
from projections.settings import ProjectorSettings
from readmodel.changes import ShipmentChange
from readmodel.kafka_admin import ensure_own_topics
from readmodel.topics import TopicNames
from tests.helpers import shipment_change


def notices(count: int) -> list[ShipmentChange]:
    """``count`` notices of a catch-up's kind: a milestone each, of shipments naming an
    order or two (a few hundred bytes each)."""
    return [
        shipment_change(n, order_warehouses={f"SO-{n}": "WH-ATL", f"SO-{n + 1}": None})
        for n in range(count)
    ]


async def publish_rounds(
    settings: ProjectorSettings, batch: list[ShipmentChange], rounds: int
) -> list[tuple[float, float]]:
    """(CPU seconds, wall seconds) of each round: ``batch`` sent and acknowledged."""
    producer = runner.notices_producer(settings)
    await producer.start()
    metrics = ProjectorMetrics()
    timings: list[tuple[float, float]] = []
    try:
        for _ in range(rounds + 1):  # the first warms the connection and the metadata up
            cpu, wall = time.process_time(), time.perf_counter()
            sent = await runner.send_notices(producer, batch, settings.topics.changes, metrics)
            await asyncio.gather(*sent)
            timings.append((time.process_time() - cpu, time.perf_counter() - wall))
    finally:
        await producer.stop()
    return timings[1:]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=20_000, help="notices per round")
    parser.add_argument("--rounds", type=int, default=10)
    add_broker_argument(parser)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    topics = TopicNames(
        **{f: f"bench{run}.{getattr(TopicNames(), f)}" for f in TopicNames.__dataclass_fields__}
    )
    await ensure_own_topics(args.bootstrap, topics, changes_retention_hours=1)
    settings = ProjectorSettings(kafka_bootstrap_servers=args.bootstrap, topics=topics)
    try:
        timings = await publish_rounds(settings, notices(args.notices), args.rounds)
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topics.changes, topics.dead_letter])
        finally:
            await admin.close()
    cpu = statistics.median(c for c, _ in timings)
    wall = statistics.median(w for _, w in timings)
    print(
        f"notices: {args.notices} per round, {args.rounds} rounds (medians):"
        f" CPU {cpu / args.notices * 1e6:.1f} us/notice, {wall * 1000:.0f} ms per round"
        f" (throughput {args.notices / wall:,.0f} notices/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
