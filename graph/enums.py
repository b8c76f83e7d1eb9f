"""The API's enumerations. Their members' names are the strings stored in the projections.

Each enum is declared once, by its members' names: the functional ``Enum()`` API with a
literal, which mypy reads as it reads a class body, so annotations and member references
(``OrderStatus.CANCELLED``) are checked. What the enums say to API users (their GraphQL
descriptions) is data, in ``enums.toml`` beside this module; ``described`` registers each
enum with Strawberry with those texts, and refuses a table that names other members than its
enum. A member's Python value is only a counter: code goes by its name (``enum_or_none``,
``.name``), which is the stored string and the GraphQL value.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Final, TypeVar

import strawberry
from strawberry.types.enum import StrawberryEnumDefinition

E = TypeVar("E", bound=Enum)

ShipmentStatus = Enum(
    "ShipmentStatus",
    "PLANNED PICKED_UP IN_TRANSIT OUT_FOR_DELIVERY DELIVERED DELIVERY_ATTEMPTED EXCEPTION "
    "CANCELLED",
)
FulfillmentStage = Enum(
    "FulfillmentStage", "RELEASED ALLOCATED PICKING PICKED PACKED LOADED SHIPPED"
)
OrderStatus = Enum("OrderStatus", "OPEN IN_FULFILLMENT SHIPPED CANCELLED")
OrderType = Enum("OrderType", "OUTBOUND INBOUND RETURN")
TransportMode = Enum("TransportMode", "PARCEL LTL FTL OCEAN AIR")
ChargeType = Enum("ChargeType", "FREIGHT FUEL ACCESSORIAL STORAGE HANDLING")
InvoiceStatus = Enum("InvoiceStatus", "OPEN OVERDUE PAID VOID")
SourceStatus = Enum("SourceStatus", "AVAILABLE MAINTENANCE DEGRADED")
OrderSort = Enum("OrderSort", "ORDERED_AT_DESC ORDERED_AT_ASC")
ShipmentSort = Enum("ShipmentSort", "PLANNED_PICKUP_AT_DESC PLANNED_PICKUP_AT_ASC ETA_DESC ETA_ASC")
InvoiceSort = Enum("InvoiceSort", "ISSUED_AT_DESC ISSUED_AT_ASC DUE_DATE_ASC DUE_DATE_DESC")


def enum_or_none(enum: type[E], value: object) -> E | None:
    """The member a stored string names; None for a value this API version does not know yet.

    Upstream vocabularies grow (a new transport mode, a new charge type): an unknown value
    shows as null rather than failing the whole response.
    """
    return enum.__members__.get(value) if isinstance(value, str) else None


def member_of(enum: type[E]) -> Callable[[object], E | None]:
    """The conversion of a stored string to a member of ``enum`` (``enum_or_none``), for a
    field declared by its stored key and conversion (``graph.common.stored``)."""
    return functools.partial(enum_or_none, enum)


def names_of(members: Iterable[Enum] | None) -> frozenset[str] | None:
    """The stored strings a list argument's members name; None when the argument was not given
    (no condition, unlike an empty list, which matches nothing)."""
    return None if members is None else frozenset(member.name for member in members)


def described(enum: type[E], table: Mapping[str, Any]) -> type[E]:
    """``enum`` registered as a GraphQL enum, described by ``table`` (one of ``enums.toml``'s:
    ``description``, and ``members``, a description for each member in the enum's order)."""
    members = table["members"]
    if list(members) != list(enum.__members__):
        raise ValueError(
            f"enums.toml describes {enum.__name__} as {list(members)}, "
            f"but it has {list(enum.__members__)}"
        )
    registered = strawberry.enum(enum, description=table["description"])
    # Strawberry reads a member's description from an ``enum_value`` given as its value,
    # which a literal list of names cannot hold: it is set on the definition instead, before
    # any schema reads it (``tests/unit/test_schema_file.py`` compares the published SDL).
    definition = getattr(registered, "__strawberry_definition__", None)
    if not isinstance(definition, StrawberryEnumDefinition):
        raise TypeError(f"Strawberry did not register {enum.__name__} as a GraphQL enum")
    definition.values = [
        dataclasses.replace(value, description=members[value.name]) for value in definition.values
    ]
    return enum


_TABLES: Final[dict[str, Any]] = tomllib.loads(
    Path(__file__).with_name("enums.toml").read_text(encoding="utf-8")
)
#: Every enum of the API, in the data file's order.
API_ENUMS: Final[tuple[type[Enum], ...]] = (
    ShipmentStatus,
    FulfillmentStage,
    OrderStatus,
    OrderType,
    TransportMode,
    ChargeType,
    InvoiceStatus,
    SourceStatus,
    OrderSort,
    ShipmentSort,
    InvoiceSort,
)
if list(_TABLES) != [enum.__name__ for enum in API_ENUMS]:
    raise ValueError(f"enums.toml describes {list(_TABLES)}, not the API's enums")
for _enum in API_ENUMS:
    described(_enum, _TABLES[_enum.__name__])
