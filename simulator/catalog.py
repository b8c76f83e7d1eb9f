"""Reference data of the simulated 3PL: sources, warehouses, cities, carriers, customers.

Everything here is static and ordered (tuples, not sets), so that a seeded generator that
walks it always makes the same choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

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


def _us(name: str, region: str, postal: str, lat: float, lon: float, tz: str) -> City:
    return City(name, region, postal, "US", lat, lon, tz)


_NY, _CHI, _DEN, _LA = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)

US_CITIES: Final[tuple[City, ...]] = (
    _us("Atlanta", "GA", "30303", 33.75, -84.39, _NY),
    _us("Chicago", "IL", "60601", 41.88, -87.63, _CHI),
    _us("Dallas", "TX", "75201", 32.78, -96.80, _CHI),
    _us("Houston", "TX", "77002", 29.76, -95.37, _CHI),
    _us("Denver", "CO", "80202", 39.74, -104.99, _DEN),
    _us("Phoenix", "AZ", "85004", 33.45, -112.07, "America/Phoenix"),
    _us("Los Angeles", "CA", "90012", 34.05, -118.24, _LA),
    _us("San Francisco", "CA", "94103", 37.77, -122.42, _LA),
    _us("Seattle", "WA", "98101", 47.61, -122.33, _LA),
    _us("Portland", "OR", "97204", 45.52, -122.68, _LA),
    _us("Salt Lake City", "UT", "84101", 40.76, -111.89, _DEN),
    _us("Las Vegas", "NV", "89101", 36.17, -115.14, _LA),
    _us("Sacramento", "CA", "95814", 38.58, -121.49, _LA),
    _us("New York", "NY", "10001", 40.71, -74.01, _NY),
    _us("Boston", "MA", "02108", 42.36, -71.06, _NY),
    _us("Philadelphia", "PA", "19103", 39.95, -75.17, _NY),
    _us("Miami", "FL", "33130", 25.76, -80.19, _NY),
    _us("Orlando", "FL", "32801", 28.54, -81.38, _NY),
    _us("Charlotte", "NC", "28202", 35.23, -80.84, _NY),
    _us("Nashville", "TN", "37203", 36.16, -86.78, _CHI),
    _us("Columbus", "OH", "43215", 39.96, -83.00, _NY),
    _us("Detroit", "MI", "48226", 42.33, -83.05, "America/Detroit"),
    _us("Minneapolis", "MN", "55401", 44.98, -93.27, _CHI),
    _us("St. Louis", "MO", "63101", 38.63, -90.20, _CHI),
    _us("Albuquerque", "NM", "87102", 35.08, -106.65, _DEN),
    _us("Boise", "ID", "83702", 43.62, -116.20, "America/Boise"),
)

#: Linehaul terminals and parcel sort centres of the US networks.
US_HUBS: Final[tuple[City, ...]] = (
    _us("Memphis", "TN", "38118", 35.05, -89.98, _CHI),
    _us("Indianapolis", "IN", "46241", 39.72, -86.29, "America/Indiana/Indianapolis"),
    _us("Kansas City", "MO", "64161", 39.16, -94.45, _CHI),
    _us("Dallas", "TX", "75261", 32.90, -97.04, _CHI),
    _us("Salt Lake City", "UT", "84104", 40.75, -111.97, _DEN),
    _us("Ontario", "CA", "91761", 34.06, -117.60, _LA),
    _us("Louisville", "KY", "40209", 38.17, -85.74, "America/Kentucky/Louisville"),
    _us("Harrisburg", "PA", "17109", 40.27, -76.88, _NY),
    _us("Chicago", "IL", "60638", 41.78, -87.75, _CHI),
    _us("Atlanta", "GA", "30336", 33.74, -84.55, _NY),
    _us("Worcester", "MA", "01604", 42.26, -71.80, _NY),
    _us("Elizabeth", "NJ", "07201", 40.66, -74.19, _NY),
    _us("Jacksonville", "FL", "32218", 30.45, -81.67, _NY),
    _us("Denver", "CO", "80239", 39.78, -104.82, _DEN),
    _us("Kent", "WA", "98032", 47.39, -122.23, _LA),
    _us("Phoenix", "AZ", "85043", 33.43, -112.20, "America/Phoenix"),
    _us("Minneapolis", "MN", "55413", 45.00, -93.23, _CHI),
    _us("Houston", "TX", "77032", 29.94, -95.33, _CHI),
)


def _eu(name: str, postal: str, country: str, lat: float, lon: float, tz: str) -> City:
    return City(name, None, postal, country, lat, lon, tz)


_AMS, _BER, _PAR = "Europe/Amsterdam", "Europe/Berlin", "Europe/Paris"

EU_CITIES: Final[tuple[City, ...]] = (
    _eu("Amsterdam", "1012 AB", "NL", 52.37, 4.90, _AMS),
    _eu("Utrecht", "3511 AA", "NL", 52.09, 5.12, _AMS),
    _eu("Antwerpen", "2000", "BE", 51.22, 4.40, "Europe/Brussels"),
    _eu("Bruxelles", "1000", "BE", 50.85, 4.35, "Europe/Brussels"),
    _eu("Paris", "75001", "FR", 48.86, 2.35, _PAR),
    _eu("Lyon", "69001", "FR", 45.76, 4.84, _PAR),
    _eu("Lille", "59000", "FR", 50.63, 3.06, _PAR),
    _eu("Köln", "50667", "DE", 50.94, 6.96, _BER),
    _eu("Düsseldorf", "40213", "DE", 51.23, 6.78, _BER),
    _eu("Frankfurt am Main", "60311", "DE", 50.11, 8.68, _BER),
    _eu("München", "80331", "DE", 48.14, 11.58, _BER),
    _eu("Hamburg", "20095", "DE", 53.55, 9.99, _BER),
    _eu("Berlin", "10115", "DE", 52.52, 13.40, _BER),
    _eu("Milano", "20121", "IT", 45.46, 9.19, "Europe/Rome"),
    _eu("Madrid", "28013", "ES", 40.42, -3.70, "Europe/Madrid"),
    _eu("Barcelona", "08002", "ES", 41.39, 2.17, "Europe/Madrid"),
    _eu("Warszawa", "00-001", "PL", 52.23, 21.01, "Europe/Warsaw"),
    _eu("Kraków", "31-001", "PL", 50.06, 19.94, "Europe/Warsaw"),
    _eu("Praha", "110 00", "CZ", 50.08, 14.44, "Europe/Prague"),
    _eu("Wien", "1010", "AT", 48.21, 16.37, "Europe/Vienna"),
    _eu("København", "1050", "DK", 55.68, 12.57, "Europe/Copenhagen"),
    _eu("London", "EC1A 1BB", "GB", 51.51, -0.13, "Europe/London"),
    _eu("Birmingham", "B1 1AA", "GB", 52.49, -1.89, "Europe/London"),
    _eu("Zürich", "8001", "CH", 47.37, 8.54, "Europe/Zurich"),
)

EU_HUBS: Final[tuple[City, ...]] = (
    _eu("Venlo", "5928 PN", "NL", 51.37, 6.17, _AMS),
    _eu("Duisburg", "47059", "DE", 51.43, 6.76, _BER),
    _eu("Lyon", "69800", "FR", 45.73, 4.95, _PAR),
    _eu("Frankfurt am Main", "60549", "DE", 50.05, 8.57, _BER),
    _eu("Nürnberg", "90451", "DE", 49.41, 11.04, _BER),
    _eu("Milano", "20090", "IT", 45.45, 9.28, "Europe/Rome"),
    _eu("Zaragoza", "50197", "ES", 41.63, -1.00, "Europe/Madrid"),
    _eu("Poznań", "62-052", "PL", 52.35, 16.85, "Europe/Warsaw"),
    _eu("Paris", "94150", "FR", 48.75, 2.37, _PAR),
    _eu("Hamburg", "21107", "DE", 53.51, 9.99, _BER),
    _eu("Madrid", "28906", "ES", 40.31, -3.72, "Europe/Madrid"),
    _eu("Wien", "2320", "AT", 48.12, 16.45, "Europe/Vienna"),
    _eu("Northampton", "NN4 7PD", "GB", 52.21, -0.90, "Europe/London"),
)

APAC_CITIES: Final[tuple[City, ...]] = (
    City("Singapore", None, "018989", "SG", 1.29, 103.85, "Asia/Singapore"),
    City("Tokyo", "13", "100-0005", "JP", 35.68, 139.69, "Asia/Tokyo"),
    City("Sydney", "NSW", "2000", "AU", -33.87, 151.21, "Australia/Sydney"),
)

APAC_HUBS: Final[tuple[City, ...]] = (
    City("Port Klang", None, "42000", "MY", 3.00, 101.39, "Asia/Kuala_Lumpur"),
    City("Osaka", "27", "530-0001", "JP", 34.69, 135.50, "Asia/Tokyo"),
)

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


WAREHOUSES: Final = (
    Warehouse(
        "DC-ATL",
        "Atlanta DC",
        "wms/dc-atl",
        "100 Logistics Pkwy",
        _us("Atlanta", "GA", "30336", 33.74, -84.55, _NY),
        "US",
    ),
    Warehouse(
        "DC-RNO",
        "Reno DC",
        "wms/dc-rno",
        "4855 Energy Way",
        _us("Reno", "NV", "89502", 39.49, -119.76, _LA),
        "US",
    ),
    Warehouse(
        "DC-RTM",
        "Rotterdam DC",
        "wms/dc-rtm",
        "Waalhaven Zuidzijde 21",
        _eu("Rotterdam", "3089 JH", "NL", 51.89, 4.43, _AMS),
        "EU",
    ),
)
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


CARRIERS: Final = (
    Carrier("ODFL", "Old Dominion", US_ROAD, ("LTL",), "pro"),
    Carrier("SAIA", "Saia", US_ROAD, ("LTL",), "pro"),
    Carrier("EXLA", "Estes Express Lines", US_ROAD, ("LTL",), "pro"),
    Carrier("FXFE", "FedEx Freight", US_ROAD, ("LTL",), "pro"),
    Carrier("JBHT", "J.B. Hunt", US_ROAD, ("FTL",), "pro"),
    Carrier("SCNN", "Schneider National", US_ROAD, ("FTL",), "pro"),
    Carrier("WERN", "Werner Enterprises", US_ROAD, ("FTL",), "pro"),
    Carrier("UPSN", "UPS", US_PARCEL, ("PARCEL",), "ups"),
    Carrier("FDEG", "FedEx Ground", US_PARCEL, ("PARCEL",), "fedex"),
    Carrier("DSVR", "DSV Road", EU_ROAD, ("LTL", "FTL"), "eu"),
    Carrier("SCHK", "DB Schenker", EU_ROAD, ("LTL", "FTL"), "eu"),
    Carrier("DHLF", "DHL Freight", EU_ROAD, ("LTL", "FTL"), "eu"),
    Carrier("DPDE", "DPD", EU_ROAD, ("PARCEL",), "eu"),
    Carrier("GLSE", "GLS", EU_ROAD, ("PARCEL",), "eu"),
    Carrier("KERY", "Kerry Logistics", APAC_ROAD, ("AIR", "OCEAN"), "apac"),
)


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


CUSTOMERS: Final = (
    CustomerProfile(
        "ACME", "Acme Corporation", ("DC-ATL", "DC-RNO"), "USD", "per_shipment", 3.0,
        "Acme Store", "ACM",
    ),
    CustomerProfile(
        "GLOBEX", "Globex Corporation", ("DC-ATL", "DC-RTM"), "USD", "weekly", 2.0,
        "Globex Outlet", "GLX",
    ),
    CustomerProfile(
        "INITECH-US", "Initech US", ("DC-ATL", "DC-RNO"), "USD", "per_shipment", 1.5,
        "Initech Office", "INI", parent="INITECH",
    ),
    CustomerProfile(
        "INITECH-EU", "Initech Europe", ("DC-RTM",), "EUR", "per_shipment", 1.5,
        "Initech Office", "INI", parent="INITECH",
    ),
    CustomerProfile(
        "UMBRELLA", "Umbrella Health", ("DC-RNO",), "USD", "weekly", 1.0,
        "Umbrella Clinic", "UMB",
    ),
    CustomerProfile(
        "STARK", "Stark Industries", ("DC-ATL",), "USD", "per_shipment", 1.0,
        "Stark Site", "STK",
    ),
    CustomerProfile(
        "WAYNE", "Wayne Enterprises", ("DC-ATL", "DC-RNO", "DC-RTM"), "USD", "weekly", 1.0,
        "Wayne Retail", "WYN",
    ),
    CustomerProfile(
        "TYRELL", "Tyrell Corporation", ("DC-RTM",), "EUR", "weekly", 0.8,
        "Tyrell Lab", "TYR",
    ),
)  # fmt: skip

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
