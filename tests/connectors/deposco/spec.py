"""Check requests against the reconstructed Deposco OpenAPI, read by reference at test time.

openapi-core validates types, required fields, lengths and enums. Because the reconstructed document leaves
``additionalProperties`` open and openapi-core ignores unknown query parameters, two stricter checks are added:
every body property and every query parameter must be a name the spec defines. Deposco silently ignores unknown
names, so a typo there would otherwise pass every test and do nothing in production.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_HOST = "https://api.deposco.com"


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None = None
    content_type: str = "application/json"


class RequestChecker:
    def __init__(self, openapi: Any, raw: dict[str, Any]):
        self.openapi = openapi
        self.raw = raw
        self.checked: list[str] = []

    def check_body(self, method: str, path: str, body: dict[str, Any]) -> None:
        """Validate ``body`` as the request of ``method`` ``path`` (e.g. ``POST /orders/salesOrders``)."""
        self._validate(method, path, [], body)

    def check(self, request: httpx.Request) -> None:
        """Validate a request the client really sent (REST ``/latest`` only)."""
        path = request.url.path
        if "/latest/" not in path:
            return
        path = path[path.index("/latest/") + len("/latest") :]
        body = json.loads(request.content) if request.content else None
        self._validate(request.method, path, list(request.url.params.multi_items()), body)

    def _validate(self, method: str, path: str, query: list[tuple[str, str]], body: Any) -> None:
        template, operation = self._operation(method, path)
        allowed = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        unknown = {name for name, _ in query} - allowed
        assert not unknown, f"{method} {template}: query parameters not in the spec: {sorted(unknown)}"
        params = RequestParameters(
            query=ImmutableMultiDict(query), header=Headers({"Authorization": "Bearer spec-check"})
        )
        content = None if body is None else json.dumps(body).encode()
        request = _Request(SPEC_HOST, f"/latest{path}", method.lower(), params, content)
        try:
            with warnings.catch_warnings():  # the OAuth2 scheme is not one openapi-core checks; fine here
                warnings.simplefilter("ignore", UserWarning)
                self.openapi.validate_request(request)
        except Exception as exc:
            details = [e.message for e in getattr(exc.__cause__, "schema_errors", ())]
            raise AssertionError(f"{method} {template} violates the Deposco OpenAPI: {details or exc}") from None
        if body is not None:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            problems = list(self._unknown_names(body, schema, "body"))
            assert not problems, f"{method} {template}: names not in the spec: {problems}"
        self.checked.append(f"{method} {template}")

    def _operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        parts = path.strip("/").split("/")
        for template, operations in self.raw["paths"].items():
            tparts = template.strip("/").split("/")
            if len(tparts) != len(parts) or method.lower() not in operations:
                continue
            if all(t.startswith("{") or t == p for t, p in zip(tparts, parts, strict=True)):
                return template, operations[method.lower()]
        raise AssertionError(f"{method} {path}: no such operation in the Deposco OpenAPI")

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.raw["components"]["schemas"][name]
        return schema

    def _unknown_names(self, value: Any, schema: dict[str, Any], where: str):
        schema = self._resolve(schema)
        if "anyOf" in schema:
            options = [self._resolve(s) for s in schema["anyOf"] if s.get("enum") != [None]]
            if options:
                yield from self._unknown_names(value, options[0], where)
            return
        if isinstance(value, dict) and "properties" in schema:
            if schema.get("additionalProperties") is True:
                return
            for key, inner in value.items():
                if key not in schema["properties"]:
                    yield f"{where}.{key}"
                else:
                    yield from self._unknown_names(inner, schema["properties"][key], f"{where}.{key}")
        elif isinstance(value, list) and "items" in schema:
            for index, inner in enumerate(value):
                yield from self._unknown_names(inner, schema["items"], f"{where}[{index}]")
