"""Milestone timelines are plausible whatever the route, the seed and the exceptions."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from random import Random
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import catalog
from simulator.__main__ import main
from simulator.catalog import Mode
from simulator.timeline import (
    Exceptions,
    Route,
    pick_hubs,
    plan_timeline,
    planned_delivery,
    vocabulary,
)

T0 = int(datetime(2026, 11, 2, 15, 0, tzinfo=UTC).timestamp())

US_ROUTES = st.tuples(
    st.sampled_from([w for w in catalog.WAREHOUSES if w.region == "US"]),
    st.sampled_from(catalog.US_CITIES),
    st.sampled_from(["PARCEL", "LTL", "FTL"]),
)
EU_ROUTES = st.tuples(
    st.just(catalog.WAREHOUSE_BY_ID["DC-RTM"]),
    st.sampled_from(catalog.EU_CITIES),
    st.sampled_from(["PARCEL", "LTL", "FTL"]),
)


def route_of(choice: tuple[catalog.Warehouse, catalog.City, str]) -> Route:
    warehouse, city, mode = choice
    if warehouse.region == "EU":
        source, network = catalog.EU_ROAD, catalog.EU_HUBS
    else:
        source = catalog.US_PARCEL if mode == "PARCEL" else catalog.US_ROAD
        network = catalog.US_HUBS
    hubs = pick_hubs(network, warehouse.city, city, cast(Mode, mode))
    return Route(source, cast(Mode, mode), warehouse.city, city, hubs)


@settings(max_examples=150, deadline=None)
@given(
    choice=st.one_of(US_ROUTES, EU_ROUTES),
    seed=st.integers(0, 2**32),
    delayed=st.booleans(),
    failed=st.booleans(),
    damaged=st.booleans(),
    refused=st.booleans(),
)
def test_timelines_are_ordered_and_end_in_delivery_or_refusal(
    choice: tuple[catalog.Warehouse, catalog.City, str],
    seed: int,
    delayed: bool,
    failed: bool,
    damaged: bool,
    refused: bool,
) -> None:
    route = route_of(choice)
    promised = planned_delivery(route, T0)
    timeline = plan_timeline(
        Random(seed), route, T0, promised, Exceptions(delayed, failed, damaged, refused)
    )
    times = [stop.at for stop in timeline.stops]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert timeline.departed_at >= T0
    codes = [stop.code for stop in timeline.stops]
    words = vocabulary(route.source, route.mode)
    assert set(codes) <= set(words.values())
    delivered_code, refused_code = words["DELIVERED"], words["REFUSED"]
    if refused:
        assert timeline.delivered_at is None and timeline.refused_at is not None
        assert delivered_code not in codes and refused_code in codes
    else:
        assert timeline.delivered_at is not None
        assert codes.count(delivered_code) == 1
        assert timeline.delivered_at > timeline.departed_at
        # Nothing but leaving the dock happens after the delivery.
        after = [s.code for s in timeline.stops if s.at > timeline.delivered_at]
        assert set(after) <= {words.get("DEPARTED_DELIVERY")}
        if failed:
            assert words["ATTEMPTED"] in codes
            assert codes.index(words["ATTEMPTED"]) < codes.index(delivered_code)
    if delayed:
        assert words["DELAYED"] in codes
        assert timeline.revised_eta is not None and timeline.revised_eta > promised - 86400
    for stop in timeline.stops:
        if stop.eta is not None:
            assert stop.eta > stop.at - 86400  # estimates look ahead, not back


def test_the_cli_dry_run_counts_without_a_broker() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["history", "--dry-run", "--days", "2", "--orders-per-day", "10",
             "--now", "2026-11-27T12:00:00+00:00", "--faults", "default"]
        )  # fmt: skip
    assert code == 0
    text = out.getvalue()
    assert "history up to 2026-11-27T12:00:00+00:00:" in text
    assert "erp.orders.v1" in text and "tms.shipments.v1" in text


def test_the_cli_refuses_a_now_without_offset() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["history", "--dry-run", "--now", "2026-11-27T12:00:00"])
    assert code == 2
    assert "offset" in err.getvalue()
