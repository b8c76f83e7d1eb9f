"""entitlements package."""
