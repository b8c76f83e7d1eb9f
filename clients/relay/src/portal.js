// Portal operations as a Relay app writes them; relay-compiler compiles them against
// graph/schema.graphql and persists their text (tests/integration/test_clients.py).
import { graphql } from "react-relay";

// A shipment with its milestones, by the tracking number on the label.
export const shipmentQuery = graphql`
  query portalShipmentQuery($trackingNumber: String!) {
    shipmentByTrackingNumber(trackingNumber: $trackingNumber) {
      id
      shipmentId
      status
      eta
      ...portal_shipmentCard
      milestones {
        milestoneId
        status
        occurredAt
      }
    }
  }
`;

// The orders list, paginated with @connection.
export const ordersQuery = graphql`
  query portalOrdersQuery($count: Int!, $cursor: String) {
    ...portal_ordersList @arguments(count: $count, cursor: $cursor)
  }
`;

export const ordersList = graphql`
  fragment portal_ordersList on Query
  @refetchable(queryName: "portalOrdersPaginationQuery")
  @argumentDefinitions(count: { type: "Int", defaultValue: 2 }, cursor: { type: "String" }) {
    orders(first: $count, after: $cursor) @connection(key: "portal_orders") {
      edges {
        node {
          id
          orderId
          status
        }
      }
    }
  }
`;

// A shipment card that refetches itself through node(id:).
export const shipmentCard = graphql`
  fragment portal_shipmentCard on Shipment @refetchable(queryName: "portalShipmentRefetchQuery") {
    id
    trackingNumber
    status
  }
`;
