"""Who is calling: the identity a verified token vouches for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

#: The support role name used when the policy file does not configure its own.
DEFAULT_SUPPORT_ROLE: Final = "support"


@dataclass(frozen=True)
class Caller:
    """A verified caller. Built only by ``TokenVerifier.verify`` (or by tests).

    ``customers`` and ``roles`` are exactly the token's claims; what they allow is decided by
    ``Policy.scope``, never by inspecting a ``Caller`` elsewhere.
    """

    subject: str
    customers: frozenset[str]
    roles: frozenset[str]
    #: The token's ``exp``, as the viewer sees it.
    expires_at: datetime
    #: The clock-skew allowance the token was verified with (``AUTH_LEEWAY_SECONDS``).
    leeway: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.expires_at.tzinfo is None:
            raise ValueError("Caller.expires_at must be timezone-aware (UTC)")

    @property
    def valid_until(self) -> datetime:
        """When the API stops honouring the token: ``exp`` plus the leeway it was verified
        with. Every check uses this one instant (HTTP verification, reads, WebSocket expiry),
        so a token inside the leeway is accepted everywhere or nowhere."""
        return self.expires_at + self.leeway
