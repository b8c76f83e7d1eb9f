"""Sorted pages over several customers, read one customer at a time (pure logic, no I/O).

A caller entitled to several customers reads with ``customerId: {$in: [...]}``. MongoDB
answers a sorted, limited query of that shape by merging one ordered index range per
customer; DocumentDB returns each customer's range in index order only for an equality on
``customerId``, and sorts everything the ``$in`` matched in memory otherwise (a whole large
customer's list for a page of 20). So the readers ask once per customer, each query an
ordered index scan that stops at the limit, and merge the answers here: the union of the
per-customer answers, in the same order, is what the ``$in`` query would have returned.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from resolvers.paging import read_path

#: More customers than this are read with the ``$in`` query as it is: past a few dozen
#: round trips, one in-memory sort costs less than many ordered scans.
MAX_SPLIT_CUSTOMERS = 16


def per_customer(scope_filter: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """One scope filter per customer, or None when the filter's ``customerId`` is not an
    ``$in`` of a few (one customer, all customers, or too many customers).

    A filter with warehouse branches (``$or``, one per customer) is split too: each part
    keeps the whole ``$or``, and its ``customerId`` equality leaves only that customer's
    branch able to match, so the parts together match what the filter does."""
    customers = scope_filter.get("customerId")
    if not isinstance(customers, Mapping) or set(customers) != {"$in"}:
        return None
    ids = list(customers["$in"])
    if not 1 < len(ids) <= MAX_SPLIT_CUSTOMERS:
        return None
    return [{**scope_filter, "customerId": customer} for customer in ids]


def _order_key(doc: Mapping[str, Any], field: str) -> tuple[int, Any, str]:
    """MongoDB's order for the values a sort field holds here: null (or missing) first,
    then strings, then dates; ties broken by ``_id``."""
    value = read_path(doc, field)
    if value is None:
        return (0, "", str(doc["_id"]))
    if isinstance(value, str):
        return (1, value, str(doc["_id"]))
    if isinstance(value, datetime):
        return (2, value, str(doc["_id"]))
    raise TypeError(f"cannot order {field}={value!r} of {doc['_id']!r}")


def merge_sorted(
    answers: Sequence[Sequence[Mapping[str, Any]]],
    sort: Sequence[tuple[str, int]],
    limit: int,
) -> list[Mapping[str, Any]]:
    """The first ``limit`` documents (0: all) of the per-customer ``answers``, each already
    in ``sort`` order, as one list in that order. ``sort`` is a field then ``_id``, both in
    one direction (``SortSpec.mongo_sort``)."""
    (field, direction), (tie, tie_direction) = sort
    if tie != "_id" or tie_direction != direction:
        raise ValueError(f"unsupported sort {sort!r}")
    merged = heapq.merge(*answers, key=lambda doc: _order_key(doc, field), reverse=direction == -1)
    result = list(merged)
    return result[:limit] if limit else result
