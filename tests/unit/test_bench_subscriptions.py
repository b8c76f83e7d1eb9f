"""``bench/subscriptions.py``'s API processes: the settings it starts them with admit the
clients it opens (all from one address, each customer's through one token subject)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.subscriptions import CONNECT_BATCH, api_environment
from readmodel.topics import TopicNames
from web.settings import load_settings


@pytest.mark.parametrize(
    ("connections", "customers"),
    [(1000, 200), (1000, 50), (1000, 25)],
    ids=["default", "saturating (its docstring's --customers 50)", "25 customers"],
)
def test_the_bench_s_api_processes_admit_every_client_it_opens(
    connections: int, customers: int
) -> None:
    """Client ``i`` goes to process ``i % 2`` as customer ``i % customers``, ``CONNECT_BATCH``
    at a time; before, the default per-address and per-client limits closed them with 1013
    ("too many WebSocket connections from your address"; "this client already holds 16"),
    and no run measured anything."""
    live = load_settings(api_environment("127.0.0.1:9092", "bench", TopicNames(), connections)).live
    per_subject = Counter((i % 2, i % customers) for i in range(connections))
    most = max(per_subject.values())

    assert live.max_pending_connections_per_address >= CONNECT_BATCH
    assert live.max_pending_connections >= CONNECT_BATCH
    assert live.max_connections >= connections // 2
    assert live.max_connections_per_client >= most
    assert live.max_subscriptions_per_client >= most
