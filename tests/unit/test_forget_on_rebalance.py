"""The runner forgets the projector's cached documents whenever the group moves partitions,
and lets related documents come from the cache only while it holds every partition."""

from __future__ import annotations

from aiokafka import TopicPartition

from projections.batch import EntityKey
from projections.document_cache import DocumentCache
from projections.runner import ForgetOnRebalance


class _Consumer:
    """What the listener asks of the consumer: the topics and their partitions."""

    def subscription(self) -> frozenset[str]:
        return frozenset({"orders", "shipments"})

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}


def _every() -> set[TopicPartition]:
    return {TopicPartition(t, p) for t in ("orders", "shipments") for p in (0, 1)}


async def test_a_rebalance_forgets_everything_and_sets_whether_related_ones_are_served() -> None:
    cache = DocumentCache(10)
    listener = ForgetOnRebalance(_Consumer(), cache)  # type: ignore[arg-type,unused-ignore]
    cache.remember(cache.epoch, "", {EntityKey("orders", "o1"): {"_id": "o1"}})

    await listener.on_partitions_assigned(_every())
    assert len(cache) == 0 and cache.serves_related

    cache.remember(cache.epoch, "", {EntityKey("orders", "o1"): {"_id": "o1"}})
    await listener.on_partitions_revoked(_every())
    assert len(cache) == 0 and not cache.serves_related

    await listener.on_partitions_assigned(
        {TopicPartition("orders", 0), TopicPartition("shipments", 0)}
    )
    assert not cache.serves_related
