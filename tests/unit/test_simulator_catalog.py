"""The simulator's reference data (``simulator/catalog.toml``) holds together.

The tables are data, so no type checker reads them: a customer naming a warehouse that does
not exist, a carrier on a source no TMS stands for, or a misspelt time zone would only show as
a confusing failure deep inside a generated history.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from readmodel.documents import TRANSPORT_MODES
from simulator import catalog

PLACES = (
    *catalog.US_CITIES,
    *catalog.US_HUBS,
    *catalog.EU_CITIES,
    *catalog.EU_HUBS,
    *catalog.APAC_CITIES,
    *catalog.APAC_HUBS,
    *(warehouse.city for warehouse in catalog.WAREHOUSES),
)


def test_every_place_has_a_country_a_time_zone_and_coordinates() -> None:
    for place in PLACES:
        assert re.fullmatch(r"[A-Z]{2}", place.country), place
        assert ZoneInfo(place.tz), place
        assert -90 <= place.lat <= 90 and -180 <= place.lon <= 180, place
        assert place.name and place.postal_code, place


def test_us_places_name_their_state_and_eu_places_none() -> None:
    assert all(place.region for place in (*catalog.US_CITIES, *catalog.US_HUBS))
    assert not any(place.region for place in (*catalog.EU_CITIES, *catalog.EU_HUBS))


def test_carriers_report_through_a_tms_source_in_contract_modes() -> None:
    sources = {catalog.US_ROAD, catalog.US_PARCEL, catalog.EU_ROAD, catalog.APAC_ROAD}
    for carrier in catalog.CARRIERS:
        assert carrier.source in sources, carrier
        assert carrier.modes and set(carrier.modes) <= set(TRANSPORT_MODES), carrier
    assert len({carrier.scac for carrier in catalog.CARRIERS}) == len(catalog.CARRIERS)


def test_customers_ship_from_known_warehouses_and_bill_in_a_taxed_currency() -> None:
    for customer in catalog.CUSTOMERS:
        assert customer.warehouses, customer
        assert set(customer.warehouses) <= set(catalog.WAREHOUSE_BY_ID), customer
        assert customer.currency in catalog.TAX_BP, customer
        assert customer.billing in ("per_shipment", "weekly"), customer
        assert customer.weight > 0, customer
    ids = [customer.customer_id for customer in catalog.CUSTOMERS]
    assert len(set(ids)) == len(ids)
