"""Exactness under faults (issue 16): a generated world through two projector processes
while they are SIGKILLed at random and at every step of a batch, the group rebalances and
the store and the broker restart, on a private stack (``private_stack``); every document
must come out as the pure reducers make it, and ``projections verify`` must find nothing.

``bench/faults.py`` runs the long version (10 worlds of 1,500 orders).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fault_harness import FaultPlan, WorldSpec, run_world
from tests.integration.private_stack import PrivateStack, running_private_stack


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    with running_private_stack(tmp_path / "stack-logs") as stack:
        yield stack


async def test_a_bad_day_of_faults_loses_no_event(
    private_stack: PrivateStack, tmp_path: Path
) -> None:
    result = await run_world(
        WorldSpec(seed=2, orders=150), FaultPlan(), private_stack, tmp_path / "logs"
    )
    print(result.summary())
    assert result.injected.get("crash") == len(FaultPlan().crash_points)
    # a step crash fires only in a batch: none did while the stream ran out before the schedule
    assert result.injected.get("step crash fired", 0) > 0, result.summary()
    assert result.exact, "\n".join(result.mismatches[:10] + result.behind[:10])
