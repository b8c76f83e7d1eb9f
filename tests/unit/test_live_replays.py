"""Replay places (``web.live.replays``): a client's share, and places given back whatever way
a replay ends. The process-wide bound and the wait, on the real change log:
``tests/integration/test_subscriptions.py``."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from web.live.replays import ReplayPlaces


async def test_a_client_beyond_its_share_is_refused_while_others_still_replay() -> None:
    places = ReplayPlaces(total=4, per_client=1, wait_seconds=0.05)
    async with places.place("alice"):
        with pytest.raises(GraphQLError) as refused:
            async with places.place("alice"):
                pytest.fail("a second place for alice")
        async with places.place("bob"):
            assert places.in_use == 2
    assert refused.value.message == (
        "1 resume of this client is already replaying the change log on this server (the "
        "limit, MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT); resubscribe with the same cursor after 1 s."
    )
    assert refused.value.extensions == {
        "code": "RATE_LIMITED",
        "limit": "MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT",
        "allowed": 1,
        "retryAfter": 1,
    }


async def test_a_replay_that_fails_gives_its_place_back() -> None:
    places = ReplayPlaces(total=1, per_client=1, wait_seconds=0)
    with pytest.raises(RuntimeError):
        async with places.place("alice"):
            raise RuntimeError("the log failed mid-replay")
    async with places.place("bob"):
        assert places.in_use == 1
    assert places.in_use == 0
