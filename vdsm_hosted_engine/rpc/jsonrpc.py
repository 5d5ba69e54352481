"""JSON-RPC 2.0 requests and responses (pure apart from calling the methods it is given).

A body is one request object or an array of them (a batch). Requests without an `id` are
notifications: run, never answered. Errors: -32700 parse error, -32600 invalid request, -32601
method not found, -32602 invalid params, -32603 internal error (our bug: traceback logged); a
method's own failure (HostedEngineError) answers with that error's VDSM-style `code` and message.

Parsing is strict JSON: NaN, Infinity and numbers too large for a float (`1e309`) are a parse error,
not values a verb sees, and so is nesting deeper than Python's recursion allows (answered, not a
traceback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from vdsm_hosted_engine.errors import HostedEngineError, InvalidRequest

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_ALLOWED = 9005  # the caller's certificate may not call this method (our range, documented in the schema)


class MethodNotFound(HostedEngineError):
    code = METHOD_NOT_FOUND
    expected = True


class InvalidParams(InvalidRequest):
    code = INVALID_PARAMS


class NotAllowed(HostedEngineError):
    code = NOT_ALLOWED
    expected = True


Method = Callable[[dict[str, Any]], Any]


def error(id_: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def _one(methods: Mapping[str, Method], request: Any, permitted: Callable[[str], bool] | None) -> dict[str, Any] | None:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return error(request.get("id") if isinstance(request, dict) else None, INVALID_REQUEST, "Invalid request")
    id_ = request.get("id")
    params = request.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return None if "id" not in request else error(id_, INVALID_PARAMS, "params must be an object")
    method = methods.get(request["method"])
    try:
        if method is None:
            raise MethodNotFound(f"Method not found: {request['method']}")
        if permitted is not None and not permitted(request["method"]):
            raise NotAllowed(f"{request['method']} is not allowed for this client certificate")
        result = method(params)
    except HostedEngineError as e:
        if not e.expected:
            logger.warning("%s failed: %s", request["method"], e)
        answer = error(id_, e.code, e.message)
    except Exception:
        logger.exception("bug in %s", request["method"])
        answer = error(id_, INTERNAL_ERROR, f"Internal error in {request['method']}, please report it as a bug")
    else:
        answer = {"jsonrpc": "2.0", "id": id_, "result": result}
    return answer if "id" in request else None


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is too large")
    return value


def loads(body: bytes) -> Any:
    """Strict JSON; ValueError for anything else."""
    try:
        return json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def handle(methods: Mapping[str, Method], body: bytes, permitted: Callable[[str], bool] | None = None) -> bytes | None:
    """The response body for a request body, or None when nothing is to be answered; `permitted`
    says which methods this caller may call (all when None)."""
    try:
        message = loads(body)
    except (ValueError, UnicodeDecodeError):
        return json.dumps(error(None, PARSE_ERROR, "Parse error")).encode()
    if isinstance(message, list):
        if not message:
            return json.dumps(error(None, INVALID_REQUEST, "Invalid request: empty batch")).encode()
        answers = [a for a in (_one(methods, r, permitted) for r in message) if a is not None]
        return json.dumps(answers).encode() if answers else None
    answer = _one(methods, message, permitted)
    return None if answer is None else json.dumps(answer).encode()
