"""Replay places (``web.live.replays``): a client's share, and places given back whatever way
a replay ends. The process-wide bound and the wait, on the real change log:
``tests/integration/test_subscriptions.py``."""

from __future__ import annotations

import asyncio

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


async def _enter(places: ReplayPlaces, client: str, order: list[str], *, first: bool) -> None:
    async with places.place(client, first=first):
        order.append(client)
        await asyncio.sleep(0)


async def test_waiting_resumes_take_their_turns_in_order_of_arrival() -> None:
    """A queue, not a scramble: after a replica stops, the resumes that came first read
    first, even if a new one arrives just as a place comes free."""
    places = ReplayPlaces(total=1, per_client=1, wait_seconds=5)
    order: list[str] = []
    async with places.place("holder"):
        waiting = []
        for client in ("c1", "c2", "c3"):
            waiting.append(asyncio.create_task(_enter(places, client, order, first=True)))
            await asyncio.sleep(0)  # queued in this order
        await asyncio.sleep(0.01)
        assert order == []
    await _enter(places, "late", order, first=True)
    await asyncio.gather(*waiting)
    assert order == ["c1", "c2", "c3", "late"]
    assert places.in_use == 0


async def test_a_later_turn_of_a_replay_waits_past_the_deadline_of_a_first_one() -> None:
    places = ReplayPlaces(total=1, per_client=1, wait_seconds=0.05)
    order: list[str] = []
    async with places.place("holder"):
        later = asyncio.create_task(_enter(places, "replaying", order, first=False))
        with pytest.raises(GraphQLError):
            await _enter(places, "new", order, first=True)
        await asyncio.sleep(0.1)
    await later
    assert order == ["replaying"]


async def test_a_resume_cancelled_while_waiting_leaves_no_place_taken() -> None:
    places = ReplayPlaces(total=1, per_client=1, wait_seconds=5)
    order: list[str] = []
    async with places.place("holder"):
        gone = asyncio.create_task(_enter(places, "gone", order, first=True))
        after = asyncio.create_task(_enter(places, "after", order, first=True))
        await asyncio.sleep(0.01)
        gone.cancel()
    await after
    assert order == ["after"]
    assert places.in_use == 0
