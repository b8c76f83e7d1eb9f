"""Value-literal validation whose every error says where in the document the value is.

graphql-core's ``ValuesOfCorrectTypeRule`` reports the error a scalar's parser raises as it
is, and Strawberry's ``DateTime``, ``Date``, ``Decimal`` ... raise theirs without a node: so
``orders(filter: {orderedAt: {from: "yesterday"}})`` was refused with a message but no
``locations``, and GraphiQL (or any editor) could not point at the bad literal, one of
perhaps several dates in the document. This rule locates such an error at the literal the
parser refused (found by the error's path inside the argument's value), else at the value.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import (
    GraphQLError,
    GraphQLInputType,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VisitorAction,
)
from graphql.language import SKIP
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ValuesOfCorrectTypeRule


class LocatedValuesOfCorrectTypeRule(ValuesOfCorrectTypeRule):
    """``ValuesOfCorrectTypeRule``, locating the errors it would report without a node."""

    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        if input_type:

            def on_error(error: GraphQLError, path: Sequence[str | int]) -> None:
                if not error.nodes:
                    error = GraphQLError(
                        error.message,
                        _at(node, path),
                        original_error=error.original_error,
                        extensions=error.extensions,
                    )
                self.report_error(error)

            validate_input_literal(
                node, input_type, on_error, None, None, self.context.hide_suggestions
            )
        return SKIP


def _at(node: ValueNode, path: Sequence[str | int]) -> ValueNode:
    """The literal at ``path`` (object field names, list indexes) inside ``node``; as deep as
    the path leads, where a variable or a shape the path does not fit stops it."""
    for step in path:
        if isinstance(node, ObjectValueNode) and isinstance(step, str):
            found = next((f.value for f in node.fields if f.name.value == step), None)
        elif isinstance(node, ListValueNode) and isinstance(step, int) and step < len(node.values):
            found = node.values[step]
        else:
            found = None
        if found is None:
            break
        node = found
    return node
