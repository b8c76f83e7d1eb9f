"""Who reads, under which policy: the entitlement values the layers above hand to the readers.

``graph/`` and ``web/`` never apply the policy themselves: they hold the caller and the policy
as values and pass them down to ``Readers``, which builds the caller's ``Scope`` and applies
it to every query. ``graph/`` names these types through this module, so its only way to
entitlements is through the readers (``lint-imports`` checks that ``graph`` does not import
``entitlements``). ``web/`` produces the caller (authentication) and loads the policy, so it
imports ``entitlements`` directly.
"""

from entitlements.caller import Caller
from entitlements.policy import Policy
from entitlements.scope import Scope

__all__ = ["Caller", "Policy", "Scope"]
