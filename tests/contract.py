"""Where tests find the upstream event contract: the repository's verbatim copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: ``contracts/`` in the repository (see contracts/README.md).
CONTRACT_DIR = REPO / "contracts"
CONTRACT = CONTRACT_DIR / "events-v1.md"
EXAMPLES = CONTRACT_DIR / "examples"

#: The original, beside the clone when the workspace has it.
UPSTREAM_DIR = REPO.parent / "shared" / "contracts"


def example(name: str) -> dict[str, Any]:
    """A fresh copy of the contract's example event ``name`` (``order-created.json``)."""
    event: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return event
