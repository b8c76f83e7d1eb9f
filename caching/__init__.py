"""In-process caches shared by every layer (imports nothing of ours)."""
