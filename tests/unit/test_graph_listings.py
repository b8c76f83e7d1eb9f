"""The root list fields' rows (``graph.query._Listing``): each one's parts fit together, so a
sort or a condition a client may send reaches the readers instead of failing the request."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest

from graph import query
from graph.inputs import TimeRangeInput, to_filter
from resolvers.filters import TimeRange


def _listings() -> list[query._Listing[Any, Any, Any]]:
    found = [row for row in vars(query).values() if isinstance(row, query._Listing)]
    assert len(found) == 3, "orders, shipments and invoices"
    return found


@pytest.mark.parametrize("listing", _listings(), ids=lambda row: row.entity.__name__)
def test_every_sort_a_client_may_send_names_a_sort_of_its_list(
    listing: query._Listing[Any, Any, Any],
) -> None:
    members = {member.name for member in type(listing.default_sort)}
    assert listing.default_sort.name in listing.sorts
    assert members <= set(listing.sorts)


@pytest.mark.parametrize("listing", _listings(), ids=lambda row: row.entity.__name__)
def test_every_condition_of_a_filter_input_reaches_a_field_of_its_readers_filter(
    listing: query._Listing[Any, Any, Any],
) -> None:
    filter_type = listing.conditions.filter_type()
    # all conditions omitted: ``to_filter`` still passes each one to its target field by
    # name, and the filter refuses (TypeError) a name it does not have
    assert to_filter(listing.conditions(), filter_type) == filter_type()


def _given(annotation: Any) -> Any:
    """A value a client may send for a condition of this type (``X | None``)."""
    (sent,) = [a for a in typing.get_args(annotation) if a is not types.NoneType]
    if typing.get_origin(sent) is list:
        (member_type,) = typing.get_args(sent)
        return [next(iter(member_type))]
    if isinstance(sent, type) and issubclass(sent, Enum):
        return next(iter(sent))
    if sent is TimeRangeInput:
        return TimeRangeInput(start=datetime(2026, 11, 1, tzinfo=UTC))
    assert sent is str, f"no sample for {sent}"
    return "DC-ATL"


@pytest.mark.parametrize("listing", _listings(), ids=lambda row: row.entity.__name__)
def test_every_condition_given_arrives_in_the_form_the_readers_filter_takes(
    listing: query._Listing[Any, Any, Any],
) -> None:
    """Enums as their stored names (a list of them as a set), time windows as ``TimeRange``:
    a condition declared without its conversion would reach the readers as a GraphQL value."""
    conditions: Any = listing.conditions  # a Strawberry input: a dataclass
    hints = typing.get_type_hints(conditions)
    given = {f.name: _given(hints[f.name]) for f in dataclasses.fields(conditions)}
    converted = to_filter(conditions(**given), conditions.filter_type())
    values = [getattr(converted, f.name) for f in dataclasses.fields(converted)]
    assert sum(value is not None for value in values) == len(given)  # each reached one field
    for value in values:
        assert value is None or isinstance(value, str | TimeRange | frozenset), value
        names = value if isinstance(value, frozenset) else set()
        assert all(isinstance(name, str) for name in names), value


def test_each_filter_input_names_its_readers_filter_and_one_that_names_none_is_refused() -> None:
    from graph.inputs import FilterInput, InvoiceFilterInput, OrderFilterInput, ShipmentFilterInput
    from resolvers.filters import InvoiceFilter, OrderFilter, ShipmentFilter

    assert OrderFilterInput.filter_type() is OrderFilter
    assert ShipmentFilterInput.filter_type() is ShipmentFilter
    assert InvoiceFilterInput.filter_type() is InvoiceFilter

    class Unnamed(FilterInput):  # type: ignore[type-arg]
        pass

    with pytest.raises(TypeError, match="names no readers' filter"):
        Unnamed.filter_type()
