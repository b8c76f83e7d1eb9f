"""Example operations GraphiQL opens as tabs: the first thing a customer's developer runs.

Keep each one valid against the schema and within the default query limits:
``tests/unit/test_web_graphiql.py`` validates every example and computes its cost, so an
example that drifts from the schema fails the build rather than a customer's first try.
The operations are data, in ``graphiql_examples.toml`` beside this module, in tab order (the
first is the tab GraphiQL shows on first visit); append new examples there.

The values the examples look up (a tracking number, a customer, a search text) are variables,
so a first run finds something: ``scripts/demo`` picks them from the world it loaded (the
simulator's world depends on the moment its history ends) and passes them to the API process
as ``GRAPHIQL_EXAMPLE_*`` variables, read with the API's other settings
(``web.settings.load_settings``). Without them the defaults below are used: ACME and Atlanta
exist in every seeded world, the tracking number only in the one it was taken from (seed 7,
60 days of 10 orders ending 2026-11-27T12:00Z).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import Field

from config.env import EnvSettings


@dataclass(frozen=True)
class Example:
    title: str
    query: str
    variables: Mapping[str, Any] = field(default_factory=dict)


#: The example operations as written in the data file, loaded once.
_TABS: Final[list[dict[str, Any]]] = tomllib.loads(
    Path(__file__).with_name("graphiql_examples.toml").read_text(encoding="utf-8")
)["examples"]


class ExampleValues(EnvSettings):
    """What the examples look up; see the module docstring for where the values come from."""

    tracking_number: str = Field(
        "9400000557", validation_alias="GRAPHIQL_EXAMPLE_TRACKING_NUMBER", min_length=1
    )
    customer_id: str = Field("ACME", validation_alias="GRAPHIQL_EXAMPLE_CUSTOMER_ID", min_length=1)
    search_text: str = Field(
        "Atlanta", validation_alias="GRAPHIQL_EXAMPLE_SEARCH_TEXT", min_length=1
    )


def build_examples(values: ExampleValues) -> list[Example]:
    """The example tabs, looking up ``values``."""
    return [
        Example(
            title=row["title"],
            query=row["query"],
            variables={
                variable: getattr(values, setting)
                for variable, setting in row.get("variables", {}).items()
            },
        )
        for row in _TABS
    ]


#: The examples with the default values (what tests validate against the schema).
EXAMPLES: Final[list[Example]] = build_examples(ExampleValues())
