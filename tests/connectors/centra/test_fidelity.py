"""Fidelity of what the client sends: every document parses, validates against the simulated Centra schema,
and uses only names that Centra's documentation (centra.md or the published examples) contains.

The simulator's schema is the executable stand-in for Centra's (the published 2021 SDL holds only ``Account``);
the name check guards against the simulator and the client agreeing on a name Centra never documented.
"""

from __future__ import annotations

import re

import pytest
from graphql import (
    ArgumentNode,
    EnumValueNode,
    FieldNode,
    NamedTypeNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    Visitor,
    parse,
    validate,
    visit,
)

from lockstep.connectors.centra import queries
from tests.connectors.centra.conftest import CENTRA_MD, EXAMPLES, SIM_SCHEMA, sim_schema

BUILTIN_SCALARS = {"Int", "String", "Boolean", "Float", "ID"}
DOCUMENTS = sorted(queries.DOCUMENTS.items())


class _Names(Visitor):
    """Collect every API name a document uses (fields, arguments, input fields, enum values, type names)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_field(self, node: FieldNode, *_args) -> None:
        if not node.name.value.startswith("__"):
            self.names.add(node.name.value)

    def enter_argument(self, node: ArgumentNode, *_args) -> None:
        self.names.add(node.name.value)

    def enter_object_field(self, node: ObjectFieldNode, *_args) -> None:
        self.names.add(node.name.value)

    def enter_enum_value(self, node: EnumValueNode, *_args) -> None:
        self.names.add(node.value)

    def enter_named_type(self, node: NamedTypeNode, *_args) -> None:
        if node.name.value not in BUILTIN_SCALARS:
            self.names.add(node.name.value)


def api_names(document: str) -> set[str]:
    collector = _Names()
    visit(parse(document), collector)
    return collector.names


@pytest.fixture(scope="module")
def documented_words() -> set[str]:
    if not CENTRA_MD.is_file() or not EXAMPLES.is_dir():
        pytest.skip("shared Centra documentation not available")
    texts = [CENTRA_MD.read_text()]
    texts += [p.read_text(errors="replace") for p in sorted(EXAMPLES.rglob("*")) if p.is_file()]
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(texts)))


def test_every_document_is_a_single_named_operation() -> None:
    assert len(DOCUMENTS) >= 18
    for name, text in DOCUMENTS:
        operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
        assert [op.name.value for op in operations] == [name]
        assert name.startswith("Lockstep")


@pytest.mark.skipif(not SIM_SCHEMA.is_file(), reason="the Centra simulator's schema does not exist yet")
@pytest.mark.parametrize(("name", "text"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_document_validates_against_the_simulated_schema(name: str, text: str) -> None:
    errors = validate(sim_schema(), parse(text))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


@pytest.mark.parametrize(("name", "text"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_document_uses_only_documented_names(name: str, text: str, documented_words: set[str]) -> None:
    undocumented = sorted(api_names(text) - documented_words)
    assert undocumented == [], f"{name} uses names found neither in centra.md nor in the examples"


def test_name_check_catches_an_invented_name(documented_words: set[str]) -> None:
    """The check is not vacuous: a plausible but undocumented field and input type are caught."""
    invented = "query X($w: ShipmentCompleteInput) { stock { physicalQuantity } }"
    assert api_names(invented) - documented_words == {"ShipmentCompleteInput", "physicalQuantity"}


def test_mutations_report_user_errors_and_warnings() -> None:
    """centra.md §4: every mutation payload carries both lists; the client must ask for them to see them."""
    for name, text in DOCUMENTS:
        if text.lstrip().startswith("mutation"):
            names = api_names(text)
            assert {"userErrors", "userWarnings", "message", "path"} <= names, name
