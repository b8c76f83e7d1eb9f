"""The schema as clients see it: documented everywhere, a Federation 2 subgraph, and safe
without a caller or a database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    ObjectTypeDefinitionNode,
    parse,
)
from pymongo.errors import ServerSelectionTimeoutError
from strawberry.printer import print_schema

from entitlements.caller import Caller
from entitlements.policy import Policy
from graph import direct_resolvers, subgraph
from graph.common import field_resolver
from graph.context import GraphContext
from graph.schema import build_schema

SCHEMA = build_schema()
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}
ACME = Caller("alice", frozenset({"ACME"}), frozenset({"viewer"}), datetime.now(UTC) + timedelta(1))


class MemoryAudit:
    async def record(self, entry: Any) -> None:
        raise AssertionError("nothing here is audited")


def _ours(name: str) -> bool:
    """Types this API defines (not GraphQL's, not introspection's, not Federation's)."""
    return not (name.startswith("_") or name.startswith("link__") or name in BUILT_IN_SCALARS)


def _undocumented(named: GraphQLNamedType) -> list[str]:
    missing = [] if named.description else [named.name]
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        for field_name, field in named.fields.items():
            if field_name.startswith("_"):
                continue  # _entities, _service: Federation's
            if not field.description:
                missing.append(f"{named.name}.{field_name}")
            missing += [
                f"{named.name}.{field_name}({arg})"
                for arg, spec in field.args.items()
                if not spec.description
            ]
    if isinstance(named, GraphQLInputObjectType):
        missing += [f"{named.name}.{n}" for n, f in named.fields.items() if not f.description]
    if isinstance(named, GraphQLEnumType):
        missing += [f"{named.name}.{n}" for n, v in named.values.items() if not v.description]
    return missing


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    types = [t for name, t in SCHEMA._schema.type_map.items() if _ours(name)]
    assert {"Order", "Shipment", "Invoice", "Query", "OrderConnection"} <= {t.name for t in types}
    missing = [item for named in types for item in _undocumented(named)]
    assert missing == [], f"undocumented: {missing}"


def test_the_description_check_notices_a_missing_description() -> None:
    bare = GraphQLScalarType("Bare")
    assert _undocumented(bare) == ["Bare"]


async def test_service_sdl_declares_the_three_entities_keyed_by_global_id_and_by_number() -> None:
    result = await SCHEMA.execute("{ _service { sdl } }")
    assert result.errors is None and result.data is not None
    sdl = result.data["_service"]["sdl"]
    keys = (("Order", "orderId"), ("Shipment", "shipmentId"), ("Invoice", "invoiceId"))
    for entity, number in keys:
        declared = rf'type {entity} implements Node @key\(fields: "id"\) @key\(fields: "{number}"\)'
        assert re.search(declared, sdl), entity
    assert "specs.apollo.dev/federation/v2" in sdl


async def test_service_sdl_offers_a_gateway_every_root_field_but_node_and_nodes() -> None:
    """Clients that call the API directly keep ``node``/``nodes``; a gateway is not offered
    them (docs/api.md, "Federation": they would claim every id of the supergraph)."""
    result = await SCHEMA.execute("{ _service { sdl } }")
    assert result.errors is None and result.data is not None
    offered = next(
        definition
        for definition in parse(result.data["_service"]["sdl"]).definitions
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.name.value == "Query"
    )
    served = SCHEMA._schema.query_type
    assert served is not None
    assert set(served.fields) - {f.name.value for f in offered.fields or ()} == {"node", "nodes"}
    assert all(f.name.value in served.fields for f in offered.fields or ())


async def test_service_sdl_is_worked_out_once_however_often_it_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anyone may ask for ``sdl``, under as many aliases as the limits allow: each alias
    printing the whole schema again held the event loop for about 28 ms (0.9 s for 30)."""
    schema = build_schema()
    expected = subgraph.subgraph_sdl(schema)
    printed: list[object] = []

    def counted(printed_schema: Any) -> str:
        printed.append(printed_schema)
        return print_schema(printed_schema)

    monkeypatch.setattr(subgraph, "print_schema", counted)
    aliases = " ".join(f"a{i}: sdl" for i in range(30))  # the default MAX_ALIASES
    for _ in range(2):
        result = await schema.execute(f"{{ _service {{ {aliases} }} }}")
        assert result.errors is None and result.data is not None
        assert list(result.data["_service"].values()) == [expected] * 30
    assert printed == [schema]


class NoDatabase:
    """Any access fails the test: the refusal must come before any read."""

    def __getitem__(self, name: str) -> NoReturn:
        raise AssertionError(f"the database was touched ({name})")


async def test_without_a_caller_data_fields_are_unauthenticated_and_nothing_is_read() -> None:
    context = GraphContext.build(NoDatabase(), Policy(), None, MemoryAudit())  # type: ignore[arg-type]
    result = await SCHEMA.execute(
        '{ order(id: "SO-1") { id } orders { nodes { id } } viewer { subject }'
        " dataFreshness { source } }",
        context_value=context,
    )
    assert result.data == {"order": None, "orders": None, "viewer": None, "dataFreshness": None}
    codes = {e.extensions["code"] for e in result.errors or [] if e.extensions}
    assert codes == {"UNAUTHENTICATED"} and len(result.errors or []) == 4


class DownCollection:
    async def find_one(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ServerSelectionTimeoutError("db-7.internal:27017: connection refused")


class DownDatabase:
    def __getitem__(self, name: str) -> DownCollection:
        return DownCollection()


async def test_a_database_failure_is_service_unavailable_without_internals() -> None:
    context = GraphContext.build(DownDatabase(), Policy(), ACME, MemoryAudit())  # type: ignore[arg-type]
    result = await SCHEMA.execute('{ order(id: "SO-1") { id } }', context_value=context)
    [error] = result.errors or []
    assert error.extensions == {"code": "SERVICE_UNAVAILABLE"}
    assert "db-7" not in error.message
    assert isinstance(error.original_error.__cause__, ServerSelectionTimeoutError)  # type: ignore[union-attr]


def test_fields_are_called_without_strawberrys_per_field_chain() -> None:
    """Entity fields (most of a page's fields) and lookups by scalar arguments are resolved
    by a direct call; fields whose arguments Strawberry converts (enums, input objects,
    lists) keep its chain."""
    changed = set(direct_resolvers.install(SCHEMA, ["Order", "Shipment", "Query"]))
    assert {"Order.status", "Order.shipments", "Shipment.milestones", "Query.viewer"} <= changed
    assert "Query.shipmentByTrackingNumber" in changed
    assert "Query.orders" not in changed and "Query.nodes" not in changed


@strawberry.type(description="A root with a lookup by scalar arguments.")
class LookupRoot:
    @field_resolver("Its arguments, as the resolver received them.")
    def echo(
        self,
        info: strawberry.Info,
        tracking_number: str,
        customer_id: str | None = None,
        times: int = 1,
        exact: bool | None = None,
    ) -> str:
        return f"{info.field_name}:{tracking_number}/{customer_id}/{times}/{exact}"


@pytest.mark.parametrize(
    "query",
    [
        '{ echo(trackingNumber: "T-1") }',
        '{ echo(trackingNumber: "T-1", customerId: null, times: 3, exact: false) }',
        'query($c: String) { echo(trackingNumber: "T-1", customerId: $c) }',
        "{ echo }",  # a missing argument: graphql-core's error, as before
    ],
)
def test_a_direct_call_with_scalar_arguments_is_strawberrys_call(query: str) -> None:
    plain = strawberry.Schema(query=LookupRoot)
    direct = strawberry.Schema(query=LookupRoot)
    assert direct_resolvers.install(direct, ["LookupRoot"]) == ["LookupRoot.echo"]
    expected = plain.execute_sync(query, variable_values={"c": "ACME"})
    got = direct.execute_sync(query, variable_values={"c": "ACME"})
    assert (got.data, got.errors) == (expected.data, expected.errors)
