"""Instruments declared in TOML: built as declared, and a file that does not match the class
holding them stops the process at import with a message naming the instrument."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import Counter, Gauge, Histogram, generate_latest

from observability.instruments import InstrumentsError, InstrumentSet, declared, observe_all
from projections.metrics import ProjectorMetrics
from web.metrics import Metrics


class Holder:
    requests: Counter
    latency: Histogram
    not_an_instrument: int


GOOD = """
[buckets]
fast = [0.1, 1]

[instruments.requests]
kind = "counter"
name = "demo_requests"
help = "Requests, by code."
labels = ["code"]

[instruments.latency]
kind = "histogram"
name = "demo_latency_seconds"
help = "Latency."
buckets = "fast"
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "instruments.toml"
    path.write_text(text)
    return path


def test_declared_instruments_are_built_with_their_name_help_labels_and_buckets(
    tmp_path: Path,
) -> None:
    class Instruments(InstrumentSet, declared_in=_file(tmp_path, GOOD)):
        requests: Counter
        latency: Histogram

    holder = Instruments()
    holder.requests.labels(code="200").inc()
    holder.latency.observe(0.5)
    text = generate_latest(holder.registry).decode()
    assert "# HELP demo_requests_total Requests, by code." in text
    assert 'demo_requests_total{code="200"} 1.0' in text
    assert 'demo_latency_seconds_bucket{le="0.1"} 0.0' in text
    assert 'demo_latency_seconds_bucket{le="1.0"} 1.0' in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("[instruments.latency]", "[instruments.slowness]"), "latency: not declared"),
        (
            GOOD + '[instruments.extra]\nkind = "gauge"\nname = "x"\nhelp = "x"\n',
            "extra: not annotated",
        ),
        (
            GOOD.replace('kind = "counter"', 'kind = "gauge"'),
            "requests: a Gauge, annotated Counter",
        ),
        (GOOD.replace('kind = "counter"', 'kind = "summary"'), "requests: kind must be one of"),
        (GOOD.replace('labels = ["code"]', 'lables = ["code"]'), "requests: unknown key(s) lables"),
        (
            GOOD.replace('buckets = "fast"', 'buckets = "slow"'),
            "latency: no [buckets] entry 'slow'",
        ),
        (GOOD.replace('buckets = "fast"\n', ""), "latency: buckets are named by histograms"),
        (GOOD.replace('help = "Latency."', ""), "latency: name and help must be given"),
        (GOOD.replace('labels = ["code"]', 'labels = "code"'), "requests: labels must be a list"),
    ],
)
def test_a_file_that_does_not_match_its_class_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InstrumentsError) as refused:
        declared(Holder, _file(tmp_path, text))
    assert message in str(refused.value)


def test_an_instrument_set_whose_file_does_not_match_is_refused_when_defined(
    tmp_path: Path,
) -> None:
    """Refused where the class is defined (at import), not when a process first builds it."""
    with pytest.raises(InstrumentsError, match="latency: not declared"):

        class Instruments(InstrumentSet, declared_in=_file(tmp_path, GOOD.split("[instr")[0])):
            latency: Histogram


@pytest.mark.parametrize(("holder", "count"), [(ProjectorMetrics, 17), (Metrics, 11)])
def test_the_projector_and_the_api_build_every_instrument_they_annotate(
    holder: type[ProjectorMetrics | Metrics], count: int
) -> None:
    kinds = {"Counter": Counter, "Gauge": Gauge, "Histogram": Histogram}
    metrics = holder()
    annotated = {a: kinds[k] for a, k in holder.__annotations__.items() if k in kinds}
    assert len(annotated) == count
    for attribute, kind in annotated.items():
        assert isinstance(getattr(metrics, attribute), kind)


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for metric in histogram.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


@pytest.mark.parametrize(
    "amounts",
    [
        [],
        [0.0, 0.1, 0.10000001, 1.0, 1.5, 7.0],  # on each bound, just above, past the last
        [0.5] * 3 + [0.05, 2.0],
        [float("nan"), 0.2],  # NaN: in the sum, in no bucket
        [-1.0, float("inf"), float("-inf"), 3.0],  # below every bound, past the last (+Inf)
        [0.5] * 100_003,  # counts compared exactly, however large
    ],
)
def test_observe_all_counts_as_observing_each_amount(amounts: list[float]) -> None:
    """A batch's delays go into a histogram at once: every bucket, the count and the sum as
    if each had been observed on its own (``le`` is "at most": an amount on a bound counts
    in that bucket)."""
    one_by_one = Histogram("one", "x", buckets=(0.1, 1.0, 5.0), registry=None)
    at_once = Histogram("one", "x", buckets=(0.1, 1.0, 5.0), registry=None)
    for amount in amounts:
        one_by_one.observe(amount)
    observe_all(at_once, amounts)
    expected, found = _samples(one_by_one), _samples(at_once)
    assert found.keys() == expected.keys()
    for name, value in expected.items():
        if name[0].endswith("_sum"):  # added up in another order: equal but for rounding
            assert found[name] == pytest.approx(value, nan_ok=True), name
        else:
            assert found[name] == value, name
