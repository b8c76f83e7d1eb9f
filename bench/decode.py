"""Decoder micro-benchmark: CPU per record of ``projections.events.decode_event``.

    .venv/bin/python bench/decode.py [--baseline DIR] [--rounds 5] [--seed 7]

The records are the contract's examples and a simulated stream with the contract's faults
(``simulator.world.generate``), so the mix is what the projector sees: mostly milestones,
some large orders and invoices, a few broken records. Each round decodes every record once
in a fresh child process and reports its CPU time (``time.process_time``) per record.

``--baseline DIR`` names another checkout (e.g. ``/work/main``): its decoder is timed in
rounds interleaved with this tree's, on the same records, and the ratio of the medians is
printed, so a change is judged side by side on one machine at one time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def records(seed: int) -> list[bytes]:
    """The contract's examples and one simulated stream (with faults), as record values."""
    from simulator.faults import FaultRates
    from simulator.world import generate

    examples = sorted((ROOT / "contracts" / "examples").glob("*.json"))
    values = [path.read_bytes() for path in examples]
    faults = FaultRates(duplicate=0.05, stale_snapshot=0.2, disorder=0.1, broken=0.05)
    values += [r.value for r in generate(seed, days=20, orders_per_day=40, now=NOW, faults=faults)]
    return values


def time_decoder(seed: int) -> dict[str, float]:
    """Decode every record once (after one warm-up pass); CPU µs per record."""
    from projections.events import InvalidEvent, decode_event

    values = records(seed)

    def decode_all() -> int:
        refused = 0
        for value in values:
            try:
                decode_event(value)
            except InvalidEvent:
                refused += 1
        return refused

    decode_all()
    _clear_timestamp_cache()
    started = time.process_time()
    refused = decode_all()
    spent = time.process_time() - started
    return {"records": len(values), "refused": refused, "us_per_record": spent / len(values) * 1e6}


def _clear_timestamp_cache() -> None:
    """Start the timed pass with no parsed timestamps cached, as a new process would."""
    try:
        from projections.event_fields import parse_timestamp
    except ImportError:  # a tree from before the cache (and before event_fields)
        return
    parse_timestamp.cache_clear()


def run_child(tree: Path, seed: int) -> dict[str, float]:
    """One round in a fresh interpreter that imports the decoder of ``tree``."""
    code = (
        f"import json, runpy, sys; sys.path.insert(0, {str(tree)!r});"
        f"bench = runpy.run_path({__file__!r});"
        f"print(json.dumps(bench['time_decoder']({seed})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tree
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to time side by side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    timings: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            result = run_child(tree, args.seed)
            timings[name].append(result["us_per_record"])
    counts = f"{result['records']:.0f} records ({result['refused']:.0f} refused)"
    print(f"{counts}, {args.rounds} rounds")
    for name, values in timings.items():
        spread = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f} µs CPU/record ({spread})")
    if "baseline" in timings:
        ratio = statistics.median(timings["this tree"]) / statistics.median(timings["baseline"])
        print(f"this tree / baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
