"""Who may read ``/metrics``: the one check the API and the projector's metrics server share.

Both serve ``/metrics`` unauthenticated by default, as Prometheus scrapes them from inside
the cluster network. ``METRICS_TOKEN`` (``config.process``) asks every scrape for
``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials_file: ...}``),
for deployments where others can reach the ports. ``/healthz`` and ``/readyz`` stay open:
orchestrators probe them without credentials.
"""

from __future__ import annotations

import hmac
from typing import Final

#: The ``WWW-Authenticate`` header of a refused scrape's 401 (RFC 6750).
CHALLENGE: Final = 'Bearer realm="metrics"'


def metrics_allowed(token: str | None, authorization: str | None) -> bool:
    """True when no ``token`` is set, or ``authorization`` (the header's value, None when
    absent) is ``Bearer <token>``. The token is compared in constant time, so that how long
    a refusal takes tells nothing of how much of a guess was right."""
    if token is None:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
