"""``POST /graphql``: authentication, request validation, rate limiting, execution, response extensions.

Order of checks mirrors Centra's documented error layers: a bad or missing token is HTTP 403; bad JSON,
invalid
GraphQL, or a missing required argument is HTTP 400 with ``errors``; a request beyond the shared rate budget
is
HTTP 429 with ``Retry-After`` (and not charged); otherwise the operation runs and answers 200, with
authorization failures as top-level ``errors`` and business failures as ``userErrors`` in mutation payloads.
Every executed response carries ``extensions.complexity``, ``permissionsUsed`` and ``appVersion``.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from typing import Any

from ariadne import format_error, graphql
from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    get_operation_ast,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockstep.sim.centra.auth import TokenRegistry, bearer_token, permission_middleware
from lockstep.sim.centra.complexity import ComplexityEstimator, root_field_names
from lockstep.sim.centra.context import RequestContext
from lockstep.sim.centra.ratelimit import RateLimiter
from lockstep.sim.centra.state import CentraState

APP_VERSION = "v0.47.7-lockstep-sim"


def error_formatter(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    formatted = format_error(error, debug)
    extensions = formatted.setdefault("extensions", {})
    extensions.setdefault("category", "graphql")
    extensions.pop("exception", None)
    return formatted


def _bad_request(message: str, counters: Counter[str]) -> JSONResponse:
    counters["http_400"] += 1
    return JSONResponse({"errors": [{"message": message, "extensions": {"category": "graphql"}}]}, status_code=400)


class GraphQLEndpoint:
    def __init__(
        self,
        schema: GraphQLSchema,
        state: CentraState,
        tokens: TokenRegistry,
        limiter: RateLimiter,
        counters: Counter[str],
    ) -> None:
        self.schema = schema
        self.state = state
        self.tokens = tokens
        self.limiter = limiter
        self.counters = counters
        self._documents: dict[str, tuple[Any, list]] = {}
        self.estimator = ComplexityEstimator(schema)

    async def handle(self, request: Request) -> Response:
        token = self.tokens.authenticate(bearer_token(request.headers, request.cookies))
        if token is None:
            self.counters["http_403"] += 1
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Access denied: missing, invalid or expired token",
                            "extensions": {"category": "authentication"},
                        }
                    ]
                },
                status_code=403,
            )
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _bad_request("Request body is not valid JSON", self.counters)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return _bad_request("Request body must be a JSON object with a string 'query'", self.counters)
        variables = data.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("'variables' must be a JSON object", self.counters)
        try:
            document, errors = self._checked(data["query"])
        except GraphQLError as error:
            self.counters["http_400"] += 1
            return JSONResponse({"errors": [error_formatter(error)]}, status_code=400)
        if errors:
            self.counters["http_400"] += 1
            return JSONResponse({"errors": [error_formatter(e) for e in errors]}, status_code=400)
        operation = get_operation_ast(document, data.get("operationName"))
        if operation is None:
            return _bad_request("Unknown or ambiguous operation: give a valid operationName", self.counters)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        return await self._execute(data, document, operation, fragments, variables or {}, token)

    def _checked(self, query: str) -> tuple[Any, list]:
        """Parse and validate once per distinct query text: clients send the same few documents over and over,
        and parsing plus validation cost more than executing them."""
        cached = self._documents.get(query)
        if cached is None:
            document = parse(query)
            cached = (document, validate(self.schema, document))
            if len(self._documents) < 512:
                self._documents[query] = cached
        return cached

    async def _execute(
        self,
        data: dict[str, Any],
        document: Any,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        token: Any,
    ) -> Response:
        complexity = self.estimator.estimate(operation, fragments, variables)
        names = root_field_names(operation, fragments)
        is_mutation = operation.operation.value == "mutation"
        decision = self.limiter.try_acquire(complexity, len(names) if is_mutation else 0)
        if not decision.allowed:
            self.counters["http_429"] += 1
            return JSONResponse(
                {"errors": [{"message": "Rate limit exceeded", "extensions": {"category": "rate-limit"}}]},
                status_code=429,
                headers={"Retry-After": self.limiter.retry_after_header(decision.retry_after)},
            )
        self.counters["requests"] += 1
        for name in names:
            self.counters[f"calls:{name}"] += 1  # root fields: an aliased batch of 50 `orders` counts 50
        context = RequestContext(self.state, self.limiter, token)
        _success, result = await graphql(
            self.schema,
            data,
            context_value=context,
            query_document=document,
            query_validator=_already_validated,
            middleware=[permission_middleware],
            error_formatter=error_formatter,
        )
        result.setdefault("extensions", {}).update(
            {
                "complexity": complexity,
                "permissionsUsed": list(context.permissions_used),
                "appVersion": APP_VERSION,
            }
        )
        # Errors without a path arose before execution (e.g. a missing required variable): HTTP 400. Errors
        # with a path happened while resolving (authorization, bad limit): HTTP 200, as Centra answers them.
        errors = result.get("errors") or []
        pre_execution = result.get("data") is None and errors and all(not e.get("path") for e in errors)
        if pre_execution:
            self.counters["http_400"] += 1
        return JSONResponse(result, status_code=400 if pre_execution else 200)


def _already_validated(*_args: Any, **_kwargs: Any) -> list:
    """The endpoint validated the document before execution (cached per query text)."""
    return []


@functools.lru_cache(maxsize=512)
def _parsed(query: str) -> Any:
    return parse(query)


def operation_key(body: bytes) -> str:
    """The fault-injection key of a GraphQL request: its first root field (``"graphql"`` if unparsable)."""
    try:
        document = _parsed(json.loads(body)["query"])
    except (ValueError, KeyError, TypeError, GraphQLError):
        return "graphql"
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            names = root_field_names(definition, fragments)
            if names:
                return names[0]
    return "graphql"
