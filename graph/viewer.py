"""The caller as the API sees them: whom they act for and what their roles allow."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.access import Scope


@strawberry.type(description="You: the identity of the token this request carries.")
class Viewer:
    subject: str = strawberry.field(description="Your user id (the token's subject).")
    customers: list[str] = strawberry.field(
        description="The customer accounts you act for, sorted."
    )
    roles: list[str] = strawberry.field(description="Your roles, sorted.")
    is_support: bool = strawberry.field(
        description="Whether you are 3PL support staff (may search across customers, audited)."
    )
    can_read_invoices: bool = strawberry.field(description="Whether you may read invoices.")
    can_see_amounts: bool = strawberry.field(description="Whether you see charge amounts.")
    expires_at: datetime = strawberry.field(description="When your token expires.")

    @classmethod
    def of(cls, scope: Scope) -> Viewer:
        caller = scope.caller
        return cls(
            subject=caller.subject,
            customers=sorted(caller.customers),
            roles=sorted(caller.roles),
            is_support=scope.is_support,
            can_read_invoices=scope.can_read_invoices,
            can_see_amounts=scope.can_see_amounts,
            expires_at=caller.expires_at,
        )
