"""Example operations GraphiQL opens as tabs: the first thing a customer's developer runs.

Keep each one valid against the schema and within the default query limits:
``tests/unit/test_web_graphiql.py`` validates every example and computes its cost, so an
example that drifts from the schema fails the build rather than a customer's first try.
Append new examples to ``build_examples``; the first is the tab GraphiQL shows on first visit.

The values the examples look up (a tracking number, a customer, a search text) are variables,
so a first run finds something: ``scripts/demo`` picks them from the world it loaded (the
simulator's world depends on the moment its history ends) and passes them to the API process
as ``GRAPHIQL_EXAMPLE_*`` variables, read with the API's other settings
(``web.settings.load_settings``). Without them the defaults below are used: ACME and Atlanta
exist in every seeded world, the tracking number only in the one it was taken from (seed 7,
60 days of 10 orders ending 2026-11-27T12:00Z).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import Field

from config.env import EnvSettings


@dataclass(frozen=True)
class Example:
    title: str
    query: str
    variables: Mapping[str, Any] = field(default_factory=dict)


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
            title="Track a shipment by its tracking number",
            query="""
query TrackShipment($trackingNumber: String!) {
  shipmentByTrackingNumber(trackingNumber: $trackingNumber) {
    id
    customerId
    status
    carrier { scac name }
    trackingNumber
    origin { city countryCode }
    destination { city countryCode }
    eta
    deliveredAt
    milestones {
      occurredAt
      status
      rawCode
      location { city countryCode }
    }
    proofOfDelivery { signedBy capturedAt }
    lastUpdatedAt
  }
}
""",
            variables={"trackingNumber": values.tracking_number},
        ),
        Example(
            title="A customer's open orders with their shipments",
            query="""
query OpenOrders($customerId: String) {
  orders(
    filter: { customerId: $customerId, statuses: [OPEN, IN_FULFILLMENT] }
    first: 10
  ) {
    totalCount
    edges {
      node {
        id
        customerReference
        status
        fulfillmentStage
        requestedDeliveryDate
        shipToName
        shipments {
          id
          status
          carrier { name }
          trackingNumber
          eta
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""",
            variables={"customerId": values.customer_id},
        ),
        Example(
            title="Overdue invoices (finance role)",
            query="""
query OverdueInvoices($customerId: String) {
  invoices(filter: { customerId: $customerId, statuses: [OVERDUE] }, first: 20) {
    totalCount
    nodes {
      invoiceNumber
      issuedAt
      dueDate
      total { amount currency }
      balance { amount currency }
      orders { id customerReference }
    }
  }
}
""",
            variables={"customerId": values.customer_id},
        ),
        Example(
            title="Support: search shipments across customers (audited)",
            query="""
query SupportSearch($text: String!) {
  searchShipments(text: $text, crossCustomer: true, first: 10) {
    totalCount
    nodes {
      id
      customerId
      status
      trackingNumber
      destination { city countryCode }
    }
  }
}
""",
            variables={"text": values.search_text},
        ),
        Example(
            title="Live milestones (subscription over WebSocket)",
            query="""
subscription LiveMilestones($customerId: String) {
  milestoneFeed(customerId: $customerId) {
    cursor
    customerId
    shipmentId
    trackingNumber
    status
    milestone { occurredAt rawCode location { city } }
    projectedAt
  }
}
""",
            variables={"customerId": values.customer_id},
        ),
        Example(
            title="Data freshness per upstream system",
            query="""
query DataFreshness {
  dataFreshness {
    source
    status
    message
    expectedBackAt
    lastAppliedAt
    lagSeconds
    stale
  }
  viewer { subject customers roles canReadInvoices }
}
""",
        ),
    ]


#: The examples with the default values (what tests validate against the schema).
EXAMPLES: Final[list[Example]] = build_examples(ExampleValues())
