"""Example operations GraphiQL opens as tabs: the first thing a customer's developer runs.

Keep each one valid against the schema and within the default query limits:
``tests/unit/test_web_graphiql.py`` validates every example and computes its cost, so an
example that drifts from the schema fails the build rather than a customer's first try.
Append new examples to ``EXAMPLES``; the first is the tab GraphiQL shows on first visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    title: str
    query: str
    variables: Mapping[str, Any] = field(default_factory=dict)


EXAMPLES: list[Example] = [
    Example(
        title="Track a shipment by its tracking number",
        query="""
query TrackShipment($trackingNumber: String!) {
  shipmentByTrackingNumber(trackingNumber: $trackingNumber) {
    id
    status
    trackingNumber
    eta
  }
}
""",
        variables={"trackingNumber": "1Z999AA10123456784"},
    ),
]
