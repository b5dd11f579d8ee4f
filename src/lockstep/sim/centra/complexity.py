"""A static estimate of a GraphQL operation's cost, charged against the QUERY_COMPLEXITY buckets.

Centra does not publish its formula; what it documents is that nested lists drive the cost and that
``freeToAllocateQuantity`` is free while physical/allocated quantities are expensive. The estimate mirrors
that: every object field costs 1 plus its children; a list field multiplies its children by its ``limit`` /
``first`` argument (default 20 at the root, 5 when nested: lines and allocations are short in practice);
expensive stock fields cost 10;
each mutation field costs 10 on top.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast,
)

DEFAULT_LIST_SIZE = 20  # a root list without limit returns a page of 20
NESTED_LIST_SIZE = 5  # nested lists (lines, allocations...) are usually short; limit/first overrides
EXPENSIVE_FIELDS = {
    "physicalQuantity": 10,
    "allocatedQuantity": 10,
    "availableNowQuantity": 10,
    "demandQuantity": 10,
}
MUTATION_COST = 10


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class ComplexityEstimator:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    def estimate(
        self,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any] | None,
    ) -> int:
        root = self.schema.mutation_type if operation.operation.value == "mutation" else self.schema.query_type
        cost = self._selection_cost(operation.selection_set, root, fragments, variables or {}, set(), True)
        if operation.operation.value == "mutation":
            cost += MUTATION_COST * root_field_count(operation, fragments)
        return max(1, cost)

    def _selection_cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        seen: set[str],
        root: bool = False,
    ) -> int:
        if selection_set is None or parent is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, parent, fragments, variables, seen, root)
            elif isinstance(selection, InlineFragmentNode):
                target = (
                    self.schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
                )
                total += self._selection_cost(selection.selection_set, target, fragments, variables, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    total += self._selection_cost(
                        fragment.selection_set, target, fragments, variables, seen | {selection.name.value}
                    )
        return total

    def _field_cost(
        self,
        node: FieldNode,
        parent: Any,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        seen: set[str],
        root: bool,
    ) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        field = getattr(parent, "fields", {}).get(name)
        if field is None:
            return 0
        if node.selection_set is None:
            return EXPENSIVE_FIELDS.get(name, 0)
        children = self._selection_cost(node.selection_set, get_named_type(field.type), fragments, variables, seen)
        if not _is_list(field.type):
            return 1 + children
        size = DEFAULT_LIST_SIZE if root else NESTED_LIST_SIZE
        for argument in node.arguments or ():
            if argument.name.value in ("limit", "first", "last"):
                arg_def = field.args.get(argument.name.value)
                value = value_from_ast(argument.value, arg_def.type, variables) if arg_def else None
                if isinstance(value, int) and value > 0:
                    size = value
        return 1 + size * max(1, children)


def root_field_count(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> int:
    """Number of root fields, following fragments: each mutation field counts against MUTATION_COUNT."""
    return len(root_field_names(operation, fragments))


def root_field_names(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    names: list[str] = []

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
                walk(fragments[selection.name.value].selection_set)

    walk(operation.selection_set)
    return names
