"""Where tests find the upstream event contract: the repository's verbatim copy."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: ``contracts/`` in the repository (see contracts/README.md).
CONTRACT_DIR = REPO / "contracts"
CONTRACT = CONTRACT_DIR / "events-v1.md"
EXAMPLES = CONTRACT_DIR / "examples"

#: The original, beside the clone when the workspace has it.
UPSTREAM_DIR = REPO.parent / "shared" / "contracts"
