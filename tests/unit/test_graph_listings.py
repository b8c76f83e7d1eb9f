"""The root list fields' rows (``graph.query._Listing``): each one's parts fit together, so a
sort or a condition a client may send reaches the readers instead of failing the request."""

from __future__ import annotations

from typing import Any

import pytest

from graph import query
from graph.inputs import to_filter


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
