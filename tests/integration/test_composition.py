"""The subgraph composed into a supergraph by Apollo's composition library (what Rover and
GraphOS run: ``@apollo/composition`` in ``clients/``, driven by ``clients/compose.mjs``),
alone and beside another Relay-style subgraph: one with its own ``Node`` types, ``PageInfo``,
``node``/``nodes`` and a ``Money`` of the same shape as ours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graphql import ObjectTypeDefinitionNode, SchemaDefinitionNode, StringValueNode, parse

from graph.schema import build_schema
from tests.integration.clients_harness import CLIENTS, run

#: A second subgraph as a CRM team would write it with any Relay server library. Its
#: ``node``/``nodes`` are plain or ``@shareable``, as such libraries leave them either way.
CRM = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])

interface Node { id: ID! }

type PageInfo @shareable {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type Money @shareable { amount: String! currency: String }

type Customer implements Node @key(fields: "id") { id: ID! name: String creditLimit: Money }
type CustomerEdge { cursor: String! node: Customer! }
type CustomerConnection { edges: [CustomerEdge!]! pageInfo: PageInfo! }

type Query {
  node(id: ID!): Node NODE_MARK
  nodes(ids: [ID!]!): [Node]! NODE_MARK
  customers(first: Int, after: String): CustomerConnection!
}
"""


async def _portal_sdl(tmp_path: Path) -> Path:
    """What a gateway reads from this API: ``_service { sdl }``."""
    result = await build_schema().execute("{ _service { sdl } }")
    assert result.errors is None and result.data is not None
    path = tmp_path / "portal.graphql"
    path.write_text(result.data["_service"]["sdl"])
    return path


def _compose(**subgraphs: Path) -> dict[str, Any]:
    installed = CLIENTS / "node_modules" / "@apollo" / "composition"
    assert installed.is_dir(), f"{installed} is missing: run scripts/install (npm ci in clients/)"
    arguments = [f"{name}={path}" for name, path in subgraphs.items()]
    composed: dict[str, Any] = json.loads(
        run(["node", str(CLIENTS / "compose.mjs"), *arguments], CLIENTS)
    )
    return composed


def _graphs_resolving(supergraph: str, type_name: str, field_name: str) -> list[str]:
    """The subgraphs the router may send ``type_name.field_name`` to (``@join__field``)."""
    for definition in parse(supergraph).definitions:
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.name.value == type_name:
            field = next(f for f in definition.fields or () if f.name.value == field_name)
            return sorted(
                str(getattr(argument.value, "value", ""))
                for directive in field.directives or ()
                if directive.name.value == "join__field"
                for argument in directive.arguments or ()
                if argument.name.value == "graph"
            )
    raise AssertionError(f"no type {type_name} in the supergraph")


@pytest.mark.parametrize("node_mark", ["", "@shareable"])
async def test_the_subgraph_composes_with_another_relay_subgraph(
    tmp_path: Path, node_mark: str
) -> None:
    crm = tmp_path / "crm.graphql"
    crm.write_text(CRM.replace("NODE_MARK", node_mark))
    composed = _compose(portal=await _portal_sdl(tmp_path), crm=crm)
    assert composed["errors"] == []
    supergraph = composed["supergraphSdl"]
    # node(id:) is the other subgraph's alone: the router never asks this API for a
    # Customer id it cannot resolve; Order ids reach it through _entities.
    assert _graphs_resolving(supergraph, "Query", "node") == ["CRM"]
    assert _graphs_resolving(supergraph, "Query", "nodes") == ["CRM"]
    assert _graphs_resolving(supergraph, "Query", "orders") == ["PORTAL"]


async def test_the_subgraph_alone_composes_into_a_supergraph_on_join_v0_3(
    tmp_path: Path,
) -> None:
    composed = _compose(portal=await _portal_sdl(tmp_path))
    assert composed["errors"] == []
    links = [
        argument.value.value
        for definition in parse(composed["supergraphSdl"]).definitions
        if isinstance(definition, SchemaDefinitionNode)
        for directive in definition.directives or ()
        for argument in directive.arguments or ()
        if argument.name.value == "url" and isinstance(argument.value, StringValueNode)
    ]
    assert "https://specs.apollo.dev/join/v0.3" in links
