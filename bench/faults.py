"""Exactness under faults, the long run: worlds of 1,500 orders on a private stack.

    .venv/bin/python bench/faults.py [--worlds 10] [--orders 1500] [--first-seed 1]

Each world goes through two projector processes while they are SIGKILLed at random and at
every step of a batch, the group rebalances and the store and the broker are restarted
(``tests/integration/fault_harness.py``); every document is compared with the pure
reducers' result and ``projections verify`` runs. Prints one line per world; exits 1 if any
entity is not exact. Needs an installed stack (``FERRETDB_BIN``, ``KAFKA_LIBS``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.fault_harness import FaultPlan, WorldSpec, run_world
from tests.integration.private_stack import PrivateStack


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=10)
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--random-kills", type=int, default=11)
    args = parser.parse_args()
    plan = FaultPlan(random_kills=args.random_kills)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="faults-") as scratch:
        stack = PrivateStack.at(Path(scratch) / "stack")
        await asyncio.to_thread(stack.start)
        try:
            for seed in range(args.first_seed, args.first_seed + args.worlds):
                result = await run_world(
                    WorldSpec(seed, args.orders),
                    plan,
                    stack,
                    Path(scratch) / f"logs-{seed}",
                    within=1800,
                )
                print(result.summary(), flush=True)
                for line in result.mismatches[:5] + result.behind[:5]:
                    print("  ", line[:400], flush=True)
                failed += not result.exact
        finally:
            await asyncio.to_thread(stack.stop)
    print(f"{args.worlds - failed} of {args.worlds} worlds exact")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
