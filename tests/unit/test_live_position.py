"""``Query.liveCursor``'s answer (``LiveService.resume_cursor``): a subscription resumed from
it receives every notice the process had not read when the cursor was taken, and none it
had. The hub is fed by hand, the log held in memory (``tests.unit.live_doubles``)."""

from __future__ import annotations

import asyncio

import pytest

from graph.subscriptions import FeedUnavailable, LiveNotice, MilestoneSelection
from readmodel.changes import ShipmentChange
from tests.helpers import caller, shipment_change
from tests.unit.live_doubles import ScriptedLog, live_service
from web.live.cursor import decode_cursor
from web.live.service import LiveService


def _stored(service: LiveService, log: ScriptedLog, change: ShipmentChange) -> int:
    """``change`` appended to the log and read by the hub, as the projector's notice would
    be; its offset."""
    offset = len(log.changes)
    log.changes.append(change)
    service.hub.dispatch(offset, change)
    return offset


async def _first_resumed(service: LiveService, cursor: str) -> LiveNotice:
    """The first notice a subscription to ACME's feed resumed from ``cursor`` receives."""
    feed = service.open_feed(caller("ACME"), lambda reason: None)
    notices = feed.stream(MilestoneSelection(customer_id="ACME"), cursor)
    try:
        async with asyncio.timeout(2):  # a notice the cursor skipped would never come
            return await anext(notices)
    finally:
        await notices.aclose()


async def test_a_cursor_taken_on_an_empty_log_resumes_at_its_first_notice() -> None:
    """The log has never held a record (its next offset is 0): the first notice, at offset 0,
    is stored after the cursor was taken and reaches the subscription resumed from it."""
    log = ScriptedLog([])
    service = live_service(log=log)
    service.hub.begin_at(0)
    cursor = service.resume_cursor()
    first = shipment_change(1)
    assert _stored(service, log, first) == 0

    notice = await _first_resumed(service, cursor)
    assert (decode_cursor(notice.cursor), notice.change) == (0, first)


async def test_a_cursor_resumes_after_what_the_process_had_read_when_it_was_taken() -> None:
    """Notices 0-2 were read before the cursor (a fetch made after it shows their changes):
    not sent again. The notice stored next is the first one sent; a cursor taken once the
    process had read that one starts after it."""
    log = ScriptedLog([])
    service = live_service(log=log)
    service.hub.begin_at(0)
    for n in range(3):
        _stored(service, log, shipment_change(n))
    before = service.resume_cursor()
    change = shipment_change(3)
    offset = _stored(service, log, change)
    after = service.resume_cursor()
    later = shipment_change(4)
    _stored(service, log, later)

    notice = await _first_resumed(service, before)
    assert (decode_cursor(notice.cursor), notice.change) == (offset, change)
    notice = await _first_resumed(service, after)
    assert (decode_cursor(notice.cursor), notice.change) == (offset + 1, later)


async def test_before_the_hub_reached_the_log_the_answer_is_service_unavailable() -> None:
    service = live_service()  # its broker never answers: the hub has no position
    with pytest.raises(FeedUnavailable) as refused:
        service.resume_cursor()
    assert refused.value.code == "SERVICE_UNAVAILABLE"
    assert refused.value.message == (
        "live updates are temporarily unavailable (change log unreachable); retry"
    )
