"""Live shipment milestones over WebSocket, for every API replica, resumable, under entitlements.

Data path: projector -> ``changes`` topic (one partition) -> ``LiveHub`` in every API process
(no consumer group, from the end) -> bounded per-connection queues -> the GraphQL
``Subscription`` fields (``graph.subscriptions``) -> graphql-transport-ws / graphql-ws.

The web app uses three things from here:

* ``lifespan(settings, ...)``: an async context manager yielding the ``LiveService`` to store at
  ``app.state.live``;
* ``LiveTransportWSHandler`` / ``LiveGraphQLWSHandler``: set as the Strawberry view's
  ``graphql_transport_ws_handler_class`` / ``graphql_ws_handler_class``;
* ``ConnectionCap``: the middleware bounding the process's open WebSockets.
"""

from web.live.connections import ConnectionCap
from web.live.handlers import LiveGraphQLWSHandler, LiveTransportWSHandler
from web.live.lifespan import lifespan
from web.live.service import LiveService

__all__ = [
    "ConnectionCap",
    "LiveGraphQLWSHandler",
    "LiveService",
    "LiveTransportWSHandler",
    "lifespan",
]
