"""The one error type the state layer raises, carrying the HTTP status Deposco would answer with.

Keeping the status next to the message lets the warehouse rules (state module) stay free of HTTP code while
the routes still reproduce Deposco's exact error codes and ``{"errors":[{"errorMessage": …}]}`` bodies.
"""

from __future__ import annotations

CONCURRENT_UPDATE = "The resource was updated by a concurrent request. Please retry when the resource is not in use."


class DeposcoError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> DeposcoError:
    return DeposcoError(400, message)


def not_found(message: str) -> DeposcoError:
    return DeposcoError(404, message)


def error_body(message: str) -> dict:
    return {"errors": [{"errorMessage": message}]}
