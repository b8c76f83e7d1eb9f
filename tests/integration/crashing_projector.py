"""``python -m tests.integration.crashing_projector``: the projector, SIGKILLed at one step.

The same process as ``python -m projections run``, except that it kills itself with SIGKILL
(no cleanup, no flush: a crash) at the ``n``-th call of one step of its batches, either
just ``before`` the step's I/O or just ``after`` it returned (the write landed, nothing
after it ran). ``PROJECTOR_CRASH_AT=<before|after>:<step>:<n>`` picks the moment; ``STEPS``
lists the steps, in the order a batch goes through them.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiokafka import AIOKafkaConsumer

from projections import runner
from projections.__main__ import main
from projections.store import ProjectionStore

#: (owner, attribute) of each step a batch takes, in order.
STEPS: Final[dict[str, tuple[Any, str]]] = {
    "load": (ProjectionStore, "load"),
    "folded write": (ProjectionStore, "write_all_if_unchanged"),
    "insert": (ProjectionStore, "insert_new"),
    "stepwise write": (ProjectionStore, "write_entity"),
    "summary push": (ProjectionStore, "push_summaries"),
    # written while the next batch is applied, with the notices, before the commit
    "search write": (ProjectionStore, "insert_or_advance"),
    "source touch": (ProjectionStore, "touch_sources"),
    "pointer check": (ProjectionStore, "active_generation"),
    "publish": (runner, "publish_outcome"),
    "commit": (AIOKafkaConsumer, "commit"),
}


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(spec: str) -> None:
    when, step, nth = spec.split(":")
    owner, name = STEPS[step]
    original: Callable[..., Awaitable[Any]] = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    async def crashing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == int(nth) and when == "before":
            _die()
        result = await original(*args, **kwargs)
        if calls == int(nth) and when == "after":
            _die()
        return result

    setattr(owner, name, crashing)


if __name__ == "__main__":
    arm(os.environ["PROJECTOR_CRASH_AT"])
    # imported and armed: held until the harness lets it go (``fault_harness.Projectors.armed``)
    sys.stdin.readline()
    main()
