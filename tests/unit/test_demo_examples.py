"""The example values ``scripts/demo`` gives GraphiQL: picked from what was projected, and a
young world that has not shipped anything of the demo customer yet still starts the demo."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib"


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    sys.path.insert(0, str(LIB))  # demo.py imports its sibling ``probe`` as the script does
    try:
        spec = importlib.util.spec_from_file_location("demo_helper", LIB / "demo.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve annotations through it
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(LIB))


def shipment(
    customer: str, tracking: str | None, status: str, city: str = "Atlanta"
) -> dict[str, Any]:
    return {
        "customerId": customer,
        "trackingNumber": tracking,
        "status": status,
        "destination": {"city": city},
        "milestones": [],
    }


def test_the_demo_customers_most_telling_shipment_is_the_example(demo: ModuleType) -> None:
    values = demo.choose_examples(
        "ACME",
        [
            shipment("ACME", "1Z-DELIVERED", "DELIVERED"),
            shipment("ACME", "1Z-MOVING", "IN_TRANSIT", city="Denver"),
            shipment("GLOBEX", "9-MOVING", "IN_TRANSIT", city="Denver"),
            shipment("ACME", None, "PLANNED", city="Denver"),
        ],
    )
    assert (values.tracking_number, values.customer_id, values.search_text) == (
        "1Z-MOVING",
        "ACME",
        "Denver",
    )
    assert values.fallback_from is None


def test_a_world_without_a_tracked_shipment_of_the_demo_customer_falls_back(
    demo: ModuleType,
) -> None:
    values = demo.choose_examples(
        "ACME",
        [
            shipment("ACME", None, "PLANNED"),
            shipment("GLOBEX", "9-DELIVERED", "DELIVERED"),
            shipment("INITECH", "7-MOVING", "IN_TRANSIT"),
        ],
    )
    assert values.tracking_number == "7-MOVING"
    assert values.customer_id == "ACME"  # the demo users' customer, whose lists the tabs show
    assert values.fallback_from == "ACME"


def test_a_world_without_any_tracked_shipment_is_refused(demo: ModuleType) -> None:
    with pytest.raises(demo.DemoError, match="no shipment with a tracking number"):
        demo.choose_examples("ACME", [shipment("ACME", None, "PLANNED")])
