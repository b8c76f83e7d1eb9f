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
    carrier { scac name }
    trackingNumber
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
        variables={"trackingNumber": "JJD00000000001"},
    ),
    Example(
        title="Open orders with their shipments",
        query="""
query OpenOrders {
  orders(filter: { statuses: [OPEN, IN_FULFILLMENT] }, first: 10) {
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
    ),
    Example(
        title="Overdue invoices (finance role)",
        query="""
query OverdueInvoices {
  invoices(filter: { statuses: [OVERDUE] }, first: 20) {
    totalCount
    nodes {
      invoiceNumber
      dueDate
      total { amount currency }
      balance { amount currency }
      orders { id customerReference }
    }
  }
}
""",
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
        variables={"text": "Rotterdam"},
    ),
    Example(
        title="Live milestones (subscription over WebSocket)",
        query="""
subscription LiveMilestones {
  milestoneFeed {
    cursor
    shipmentId
    trackingNumber
    status
    milestone { occurredAt rawCode location { city } }
    projectedAt
  }
}
""",
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
