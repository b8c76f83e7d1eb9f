"""Reference data of the simulated 3PL: sources, warehouses, cities, carriers, customers.

Everything here is static and ordered (tuples, not sets), so that a seeded generator that
walks it always makes the same choices. The tables of places, carriers, warehouses and
customers are data, kept in ``catalog.toml`` beside this module and loaded once at import;
the codes and names the generator's logic refers to stay here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

_DATA: Final[dict[str, Any]] = tomllib.loads(
    Path(__file__).with_name("catalog.toml").read_text(encoding="utf-8")
)

# --- sources ------------------------------------------------------------------------------

ERP_SOURCE: Final = "erp/s4-prod"
ERP_TZ: Final = "Europe/Berlin"

US_ROAD: Final = "tms/us-road"
US_PARCEL: Final = "tms/us-parcel"
EU_ROAD: Final = "tms/eu-road"
#: A source that starts sending late in the history; its codes are in no mapping.
APAC_ROAD: Final = "tms/apac-road"

#: X12 214 shipment status codes named by the contract, for tms/us-road and tms/us-parcel.
X12_CODES: Final = (
    "X3", "AF", "P1", "I1", "OA", "X6", "AG", "X2", "AV",
    "X1", "AH", "AP", "D1", "CD", "SD", "A9", "A7", "CA",
)  # fmt: skip
#: The words tms/eu-road sends, as the contract names them.
EU_ROAD_CODES: Final = (
    "COLLECTED", "LINEHAUL", "AT_HUB", "OUT_FOR_DELIVERY", "DELIVERED",
    "NOT_DELIVERED", "DELAYED", "DAMAGED", "RETURNED",
)  # fmt: skip
#: What the new APAC source sends: deliberately unknown to any mapping.
APAC_CODES: Final = ("PKUP", "DEPT_HUB", "ARR_HUB", "ON_VEHICLE", "POD_OK")

#: X12 214 status reason codes used with exceptions (the contract leaves them free-form).
REASON_WEATHER: Final = "AO"
REASON_CARRIER: Final = "AJ"
REASON_MECHANICAL: Final = "AI"
REASON_RECIPIENT_UNAVAILABLE: Final = "AQ"
REASON_CONSIGNEE_CLOSED: Final = "B1"
REASON_DAMAGED: Final = "AK"
REASON_REFUSED: Final = "AG"


# --- places -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class City:
    """A place. Compared by identity: every city is a catalog constant, which keeps the
    caches keyed by cities cheap."""

    name: str
    region: str | None
    postal_code: str
    country: str
    lat: float
    lon: float
    tz: str


def _city(row: dict[str, Any]) -> City:
    return City(**{"region": None, **row})


US_CITIES: Final = tuple(_city(row) for row in _DATA["us_cities"])
#: Linehaul terminals and parcel sort centres of the US networks.
US_HUBS: Final = tuple(_city(row) for row in _DATA["us_hubs"])
EU_CITIES: Final = tuple(_city(row) for row in _DATA["eu_cities"])
EU_HUBS: Final = tuple(_city(row) for row in _DATA["eu_hubs"])
APAC_CITIES: Final = tuple(_city(row) for row in _DATA["apac_cities"])
APAC_HUBS: Final = tuple(_city(row) for row in _DATA["apac_hubs"])

STREETS: Final = (
    "Market St", "Commerce Dr", "Industrial Blvd", "Harbor Rd", "Main St", "Oak Ave",
    "Distribution Way", "Pine St", "Riverside Dr", "Station Rd", "Park Ave", "Elm St",
)  # fmt: skip
EU_STREETS: Final = (
    "Hauptstraße", "Industrieweg", "Rue de la Gare", "Havenstraat", "Via Roma",
    "Calle Mayor", "Logistiklaan", "Kerkstraat", "Bahnhofstraße", "Avenue du Port",
)  # fmt: skip


# --- warehouses ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Warehouse:
    warehouse_id: str
    name: str
    source: str
    line1: str
    city: City
    region: Literal["US", "EU"]


def _warehouse(row: dict[str, Any]) -> Warehouse:
    return Warehouse(**{**row, "city": _city(row["city"])})


WAREHOUSES: Final = tuple(_warehouse(row) for row in _DATA["warehouses"])
WAREHOUSE_BY_ID: Final = {w.warehouse_id: w for w in WAREHOUSES}


# --- carriers -----------------------------------------------------------------------------

Mode = Literal["PARCEL", "LTL", "FTL", "OCEAN", "AIR"]


@dataclass(frozen=True, slots=True)
class Carrier:
    scac: str
    name: str
    source: str
    modes: tuple[Mode, ...]
    #: Tracking number style: "pro" (10 digits), "ups", "fedex", "eu", "apac".
    tracking: str


def _carrier(row: dict[str, Any]) -> Carrier:
    return Carrier(**{**row, "modes": tuple(row["modes"])})


CARRIERS: Final = tuple(_carrier(row) for row in _DATA["carriers"])


def carriers_for(source: str, mode: Mode) -> tuple[Carrier, ...]:
    return tuple(c for c in CARRIERS if c.source == source and mode in c.modes)


# --- customers ----------------------------------------------------------------------------

Billing = Literal["per_shipment", "weekly"]


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    customer_id: str
    name: str
    warehouses: tuple[str, ...]
    currency: str
    billing: Billing
    #: Relative order volume.
    weight: float
    consignee: str
    sku_prefix: str
    #: The parent account, for customers that are child accounts (entitlements config).
    parent: str | None = None


def _customer(row: dict[str, Any]) -> CustomerProfile:
    return CustomerProfile(**{**row, "warehouses": tuple(row["warehouses"])})


CUSTOMERS: Final = tuple(_customer(row) for row in _DATA["customers"])

#: Sales tax / VAT applied to invoices, by currency, in basis points.
TAX_BP: Final = {"USD": 0, "EUR": 2100}

SUPPLIERS: Final = (
    "Shenzhen Bright Manufacturing", "Northwind Traders", "Contoso Components",
    "Fabrikam Industrial", "Lakeshore Plastics", "Bluebird Packaging",
)  # fmt: skip

PRODUCT_NOUNS: Final = (
    "Widget", "Gear kit", "Bracket", "Sensor", "Valve", "Cable", "Filter", "Panel",
    "Bolt set", "Adapter", "Pump", "Lamp", "Battery pack", "Hinge", "Gasket", "Spring",
)  # fmt: skip
PRODUCT_ADJECTIVES: Final = (
    "blue", "red", "steel", "large", "small", "heavy duty", "compact", "premium", "matte",
)  # fmt: skip
UOMS: Final = ("EA", "EA", "EA", "CS", "CS", "BX", "PL")

SIGNERS: Final = (
    "J. RIVERA", "M. CHEN", "A. SMITH", "K. MÜLLER", "S. JANSEN", "L. DUBOIS", "R. PATEL",
    "T. NGUYEN", "D. KOWALSKI", "E. ROSSI", "FRONT DESK", "RECEIVING",
)  # fmt: skip

ORDER_CANCEL_REASONS: Final = (
    "Customer request",
    "Duplicate order",
    "Credit hold",
    "Stock unavailable",
)
SHIPMENT_CANCEL_REASONS: Final = ("Carrier capacity", "Replanned with another carrier")
VOID_REASONS: Final = ("Billing correction", "Duplicate invoice", "Rate dispute settled")
