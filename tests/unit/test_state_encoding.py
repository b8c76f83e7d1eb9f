"""The projector's bookkeeping blob (``projections.store.encode_state``): the same facts give
the same bytes whatever order they arrived in, so two processes or a rebuild write the same
document for the same events (the two-process test compares documents to the byte)."""

from __future__ import annotations

from projections.store import encode_state


def test_the_same_facts_arrived_in_another_order_encode_to_the_same_bytes() -> None:
    milestone_first = {"milestones": [["tms/eu-road", "ms-1", 2, "e-2"]], "snapshot": [1, "e-1"]}
    plan_first = {"snapshot": [1, "e-1"], "milestones": [["tms/eu-road", "ms-1", 2, "e-2"]]}
    assert encode_state(milestone_first) == encode_state(plan_first)


def test_other_facts_still_encode_to_other_bytes() -> None:
    assert encode_state({"snapshot": [1, "e-1"]}) != encode_state({"snapshot": [2, "e-1"]})
