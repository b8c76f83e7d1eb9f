"""Where an API request's CPU goes, by layer, from py-spy's raw samples.

A flame graph answers "which function"; docs/benchmarks.md's breakdowns answer "which layer" (the
driver and BSON, graphql-core, Strawberry, Starlette, the event loop, and each of our
packages), which is what decides whether a miss is ours to cut. Each sample is charged to
the innermost frame that belongs to a known layer, so a conversion in ``graph/`` that calls
``datetime`` is ``graph``'s, and a PyMongo call made from ``resolvers/`` is PyMongo's.

Only samples of the API's own request path count (a frame in ``web/`` or ``strawberry/``):
the benchmark's caller and, with ``bench/api.py --in-process``, the ceiling's app in the
same process are left out. For example, the tracking lookup alone::

    .venv/bin/py-spy record -r 200 -f raw -o /tmp/lookup.txt -- .venv/bin/python \\
        bench/api.py --database bench_api_s6 --in-process --seconds 30 --queries tracking
    .venv/bin/python bench/profile_layers.py /tmp/lookup.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Final

#: Layer -> the path prefixes (as py-spy prints them) of its frames; the first match wins.
LAYERS: Final[dict[str, tuple[str, ...]]] = {
    "PyMongo/BSON": ("pymongo/", "bson/"),
    "graphql-core": ("graphql/",),
    "Strawberry": ("strawberry/",),
    "Starlette": ("starlette/",),
    "event loop": ("asyncio/", "uvloop/"),
    "web (ours)": ("web/",),
    "graph (ours)": ("graph/",),
    "resolvers, entitlements, readmodel (ours)": (
        "resolvers/",
        "entitlements/",
        "readmodel/",
        "caching/",
        "observability/",
    ),
    "Prometheus client": ("prometheus_client/",),
    "PyJWT/cryptography": ("jwt/", "cryptography/"),
    "logging": ("logging/",),
}
#: Frames that mark a sample as the API's request path.
REQUEST_PATH: Final = ("web/", "strawberry/")
_LOCATION: Final = re.compile(r"\(([^()]*):\d+\)$")


def _path(frame: str) -> str:
    found = _LOCATION.search(frame)
    return found.group(1) if found else frame


def layer_of(frames: list[str]) -> str:
    """The layer of the innermost frame that has one ("other" if none does)."""
    for frame in reversed(frames):
        path = _path(frame)
        for layer, prefixes in LAYERS.items():
            if path.startswith(prefixes):
                return layer
    return "other"


def layers(lines: Iterable[str]) -> Counter[str]:
    """Samples per layer, from py-spy's raw (collapsed) lines: ``frame;frame;... count``."""
    found: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if any(_path(frame).startswith(REQUEST_PATH) for frame in frames):
            found[layer_of(frames)] += int(count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="py-spy record -f raw output")
    args = parser.parse_args()
    with args.samples.open() as lines:
        found = layers(lines)
    total = sum(found.values())
    for layer, samples in found.most_common():
        print(f"{layer:<44} {samples / total:6.1%}")
    print(f"{'samples on the request path':<44} {total:6d}")


if __name__ == "__main__":
    main()
