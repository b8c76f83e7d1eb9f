"""Reading the global ids (``Node.id``) the API returns back into entity numbers, for tests
that check which entities came back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graph.global_ids import decode


def number(value: Any) -> str:
    """The number inside a global id; fails the test if ``value`` is not one."""
    decoded = decode(value) if isinstance(value, str) else None
    assert decoded is not None, f"not a global id: {value!r}"
    return decoded.number


def numbers(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """The numbers of objects that carry a global ``id``, in order."""
    return [number(item["id"]) for item in items]


def with_numbers(text: str) -> str:
    """``text`` followed by the number of every global id in it, so that a search for an
    entity's number also finds it when only its global id was selected."""
    import re

    found = [decode(token) for token in re.findall(r"[A-Za-z0-9+/]{8,}={0,2}", text)]
    return text + " " + " ".join(g.number for g in found if g is not None)
