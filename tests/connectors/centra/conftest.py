"""Shared helpers for the Centra connector tests: the reference material and a validating fake Centra.

Centra's documented examples are read from the shared spec folder at test time (CC BY-NC-SA: referenced,
never copied into the project). ``FakeCentra`` is an ``httpx.MockTransport`` handler that validates every
request the client sends against the simulator's schema (document *and* variables) before answering it, so
the edge-case tests double as fidelity checks of the request bodies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from lockstep.connectors.centra.client import CentraClient
from tests.shared_spec import SPEC_DIR

ROOT = Path(__file__).resolve().parents[3]
SPEC = SPEC_DIR
EXAMPLES = SPEC / "examples" / "centra" / "graphql"
CENTRA_MD = SPEC.parent / "api" / "centra.md"
SIM_SCHEMA = ROOT / "src" / "lockstep" / "sim" / "centra" / "schema.graphql"
TOKEN = "centra-test-token-123"

needs_examples = pytest.mark.skipif(
    not EXAMPLES.is_dir() and not os.environ.get("CI"), reason="shared Centra examples not available (required in CI)"
)


def example(name: str) -> Any:
    """A documented example response by its path under examples/centra/graphql (without ``.json``)."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


_schema: GraphQLSchema | None = None


def sim_schema() -> GraphQLSchema:
    global _schema
    if _schema is None:
        _schema = build_schema(SIM_SCHEMA.read_text())
    return _schema


Answer = httpx.Response | Exception | dict[str, Any]


class FakeCentra:
    """A MockTransport handler: validates each request, records it, answers from per-operation scripts.

    ``script[operation]`` is a list of answers used in order (the last one repeats) or a callable
    ``(variables) -> answer``. A dict answer is sent as a 200 JSON body.
    """

    def __init__(self, **script: list[Answer] | Callable[[dict[str, Any]], Answer]):
        self.script = script
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/graphql"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = json.loads(request.content)
        name, variables = body["operationName"], body.get("variables") or {}
        self._validate(body["query"], name, variables)
        self.calls.append((name, variables))
        answers = self.script[name]
        answer = answers(variables) if callable(answers) else (answers.pop(0) if len(answers) > 1 else answers[0])
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, dict):
            return httpx.Response(200, json=answer)
        return answer

    @staticmethod
    def _validate(query: str, name: str, variables: dict[str, Any]) -> None:
        schema = sim_schema()
        document = parse(query)
        errors = validate(schema, document)
        assert not errors, errors
        operation = get_operation_ast(document, name)
        assert isinstance(operation, OperationDefinitionNode)
        coerced = get_variable_values(schema, operation.variable_definitions or [], variables)
        assert not isinstance(coerced, list), f"variables of {name} do not fit the schema: {coerced}"


def data(**fields: Any) -> dict[str, Any]:
    return {"data": fields, "extensions": {"complexity": 1}}


def payload(field: str, errors: list | None = None, warnings: list | None = None, **values: Any) -> dict:
    """A mutation payload answer with userErrors/userWarnings."""
    return data(**{field: {**values, "userErrors": errors or [], "userWarnings": warnings or []}})


def make_client(fake: FakeCentra, **kwargs: Any) -> tuple[CentraClient, list[float]]:
    """A client over the fake; sleeps are recorded instead of slept."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return CentraClient("https://brand.centra.test/", TOKEN, http=http, sleep=fake_sleep, **kwargs), slept
