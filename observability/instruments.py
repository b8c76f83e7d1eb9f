"""Prometheus instruments declared in a TOML file and built into a process's own registry.

An instrument set is a subclass of ``InstrumentSet`` naming its file::

    class Metrics(InstrumentSet, declared_in=Path(__file__).with_name("metrics.toml")):
        request_seconds: Histogram

Why a data file: an instrument is a name, a help text, labels and (histograms) buckets, which
is data; written as constructor calls, a dozen of them read as the same call a dozen times.
The class that holds the instruments still annotates each one (``events_applied: Counter``)
so mypy checks every use; ``declared`` checks the file against those annotations once, at
import, so an instrument missing from either side, or of another kind, stops the process
with a message naming the file and the instrument.

File shape::

    [buckets]
    latency = [0.005, 0.01, 0.1, 1.0]    # shared by histograms that name it

    [instruments.request_seconds]        # the attribute of the holding class
    kind = "histogram"                   # counter | gauge | histogram
    name = "portal_graphql_request_duration_seconds"
    help = "Time to execute one GraphQL query or mutation."
    labels = ["operation_type"]          # optional
    buckets = "latency"                  # histograms only: a name from [buckets]
"""

from __future__ import annotations

import tomllib
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, get_type_hints

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

_KINDS: Final[dict[str, type[MetricWrapperBase]]] = {
    "counter": Counter,
    "gauge": Gauge,
    "histogram": Histogram,
}
_KEYS: Final = frozenset({"kind", "name", "help", "labels", "buckets"})


class InstrumentsError(ValueError):
    """The instruments file does not match its holding class; the message says where."""


@dataclass(frozen=True)
class Instrument:
    """One declared instrument: what its constructor is given."""

    kind: type[MetricWrapperBase]
    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None

    def build(self, registry: CollectorRegistry) -> MetricWrapperBase:
        options: dict[str, Any] = {"registry": registry}
        if self.buckets is not None:
            options["buckets"] = self.buckets
        return self.kind(self.name, self.help, self.labels, **options)


def declared(holder: type, path: Path) -> dict[str, Instrument]:
    """The instruments of ``path``, by attribute of ``holder``: every instrument ``holder``
    annotates (and no other) must be declared there with the annotated kind."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    buckets = {
        name: tuple(float(b) for b in values) for name, values in raw.get("buckets", {}).items()
    }
    found = {
        attribute: _instrument(f"{path.name}: {attribute}", table, buckets)
        for attribute, table in raw.get("instruments", {}).items()
    }
    annotated = {
        attribute: hint
        for attribute, hint in get_type_hints(holder).items()
        if hint in _KINDS.values()
    }
    unmatched = [
        f"{attribute}: {'not declared in the file' if attribute in annotated else 'not annotated'}"
        for attribute in sorted(annotated.keys() ^ found.keys())
    ]
    if unmatched:
        raise InstrumentsError(f"{path.name} ~ {holder.__name__}: {'; '.join(unmatched)}")
    for attribute, instrument in found.items():
        if instrument.kind is not annotated[attribute]:
            raise InstrumentsError(
                f"{path.name}: {attribute}: a {instrument.kind.__name__}, annotated "
                f"{annotated[attribute].__name__} on {holder.__name__}"
            )
    return found


class InstrumentSet:
    """The instruments one process exports, as attributes, in a registry of its own
    (``registry``: what ``/metrics`` serves).

    A subclass annotates its instruments and names their file (``declared_in``); the file is
    checked against the annotations once, when the class is defined (``declared``), so a
    mismatch stops the process at import. Each instance builds every instrument anew in a new
    registry: several sets (apps in one test process) never share a series.
    """

    registry: CollectorRegistry
    _instruments: ClassVar[Mapping[str, Instrument]]

    def __init_subclass__(cls, *, declared_in: Path, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._instruments = declared(cls, declared_in)

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for attribute, instrument in self._instruments.items():
            setattr(self, attribute, instrument.build(self.registry))


def observe_all(histogram: Histogram, amounts: Iterable[float]) -> None:
    """``histogram.observe(amount)`` for each of ``amounts``: the same bucket counts and count,
    and the same sum but for rounding (added up here first), with one increment per bucket
    rather than a lock, a loop over the buckets and two increments per amount (one per event
    of a batch was a visible part of the projector's CPU).

    It reads the histogram's bounds and increments its values as ``observe`` does (the
    prometheus_client of ``constraints.txt``; ``tests/unit/test_instruments.py`` holds the
    two side by side): an amount goes into the first bucket whose bound is not below it.
    A labelled histogram is given as its child (``.labels(...)``); no exemplars.
    """
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    bounds: list[float] = histogram._upper_bounds
    counts = [0] * len(bounds)
    total = 0.0
    for amount in amounts:
        total += amount
        if amount <= bounds[-1]:  # as ``observe``: NaN goes into the sum and no bucket
            counts[bisect_left(bounds, amount)] += 1
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


def _instrument(where: str, table: Mapping[str, Any], buckets: Mapping[str, Any]) -> Instrument:
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InstrumentsError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kind = _KINDS.get(table.get("kind", ""))
    if kind is None:
        raise InstrumentsError(f"{where}: kind must be one of {', '.join(_KINDS)}")
    if not all(isinstance(table.get(key), str) and table[key] for key in ("name", "help")):
        raise InstrumentsError(f"{where}: name and help must be given (text)")
    bucket_name = table.get("buckets")
    if (bucket_name is not None) != (kind is Histogram):
        raise InstrumentsError(f"{where}: buckets are named by histograms, and only by them")
    if bucket_name is not None and bucket_name not in buckets:
        raise InstrumentsError(f"{where}: no [buckets] entry {bucket_name!r}")
    labels = table.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise InstrumentsError(f"{where}: labels must be a list of names")
    return Instrument(
        kind=kind,
        name=table["name"],
        help=table["help"],
        labels=tuple(labels),
        buckets=None if bucket_name is None else buckets[bucket_name],
    )
