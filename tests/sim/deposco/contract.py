"""Validate simulator responses against the reconstructed Deposco OpenAPI, read by reference at test time.

Every ``/latest`` response a test receives passes through :meth:`SpecChecker.check` (an httpx response hook):
a 200 must match the operation's documented response schema (openapi-core); an error must be Deposco's
``{"errors":[ErrorMessage]}`` built from the spec's own ``ErrorMessage`` component; a 429 must have an empty
body.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from jsonschema import Draft4Validator
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.shared_spec import SPEC_DIR

SPEC_FILE = SPEC_DIR / "deposco-openapi-2.0.2519.reconstructed.yaml"
SPEC_HOST = "https://api.deposco.com"


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None = None
    content_type: str = "application/json"


@dataclass
class _Response:
    status_code: int
    data: bytes
    headers: Headers
    content_type: str


class SpecChecker:
    def __init__(self, spec_file: Path = SPEC_FILE) -> None:
        self.openapi = OpenAPI.from_file_path(str(spec_file))
        raw = yaml.safe_load(spec_file.read_text())
        error_message = raw["components"]["schemas"]["ErrorMessage"]
        self.error_validator = Draft4Validator(
            {
                "type": "object",
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "array",
                        "minItems": 1,
                        "items": {**error_message, "required": ["errorMessage"]},
                    }
                },
            }
        )
        self._lock = threading.Lock()
        self.checked: dict[str, int] = {}

    def check(self, response: httpx.Response) -> None:
        """Raise AssertionError unless this ``/latest`` response has the documented shape."""
        url = urlsplit(str(response.request.url))
        if not url.path.startswith("/latest"):
            return
        response.read()
        status = response.status_code
        label = f"{response.request.method} {url.path} -> {status}"
        if status == 429:
            assert response.content == b"", f"{label}: 429 must have an empty body"
        elif status == 204:
            assert response.content == b"", f"{label}: 204 must have an empty body"
        elif status == 200:
            self._check_ok(response, url)
        else:
            errors = list(self.error_validator.iter_errors(response.json()))
            assert not errors, f"{label}: error body not Deposco-shaped: {errors[0].message}"
        with self._lock:
            self.checked[str(status)] = self.checked.get(str(status), 0) + 1

    def _check_ok(self, response: httpx.Response, url: Any) -> None:
        query = ImmutableMultiDict(list(httpx.QueryParams(url.query).multi_items()))
        request = _Request(SPEC_HOST, url.path, response.request.method.lower(), RequestParameters(query=query))
        content_type = response.headers.get("content-type", "").split(";")[0]
        wrapped = _Response(200, response.content, Headers(dict(response.headers)), content_type)
        try:
            self.openapi.validate_response(request, wrapped)
        except Exception as exc:  # openapi-core raises several types; report the schema errors readably
            details = [e.message for e in getattr(exc, "schema_errors", ())]
            cause = exc.__cause__
            details += [e.message for e in getattr(cause, "schema_errors", ())]
            raise AssertionError(
                f"{response.request.method} {url.path}: response violates the Deposco "
                f"OpenAPI: {type(exc).__name__}: {details or str(exc)[:300]}"
            ) from None


def pretty(response: httpx.Response) -> str:
    try:
        return json.dumps(response.json(), indent=1)[:2000]
    except ValueError:
        return response.text[:2000]
