"""Declaring API operations once: the decorator registers the route, checks the key's
scope, validates the body with the operation's pydantic model, and records all of it
for the OpenAPI document."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from ..row_ids import CONVERTERS
from ..services.text import TEXT_PATTERN
from .auth import authenticate
from .blueprint import bp
from .error_schemas import Error
from .errors import HTTP_REASONS, INTERNAL_ERROR, ApiError
from .webhook_schemas import EVENT_BODIES


@dataclass(frozen=True)
class Refusal:
    """An error status an operation answers: what it means, and every `error` it carries."""

    text: str
    reasons: tuple[str, ...]


def refused(text: str, *reasons: str) -> Refusal:
    return Refusal(text, reasons)


COMMON_ERRORS = {
    400: refused("The request does not match this document: malformed JSON, or wrong fields "
                 "(named in `fields`).", "invalid_request"),
    401: refused("No API key, or a wrong one.", "unauthorized"),
    403: refused("The key's scope does not allow this.", "forbidden"),
    413: refused("The body is over the configured limit.", "too_large"),
    429: refused("Too many requests; see `Retry-After`.", "rate_limited"),
}
# A path naming nothing: an id past its column's range, a route that does not exist.
NO_ROUTE = refused("No such resource.", "not_found")
REQUEST_ID_HEADER = {"X-Request-ID": {
    "description": "This request's id; the server logs its errors with it.",
    "schema": {"type": "string", "minLength": 8, "maxLength": 64}}}
# The headers an error status carries besides the request's id.
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {
        "description": 'RFC 6750\'s challenge: `Bearer realm="api"`, with `error="invalid_token"` '
                       "when the key sent is wrong or revoked.",
        "schema": {"type": "string"}}},
    403: {"WWW-Authenticate": {
        "description": 'RFC 6750\'s challenge: `Bearer realm="api", error="insufficient_scope"`.',
        "schema": {"type": "string"}}},
    429: {"Retry-After": {
        "description": "Seconds to wait before the next request is answered.",
        "schema": {"type": "integer", "minimum": 1}}},
}
INTERNAL = refused("An unexpected failure, logged with the request's id.", INTERNAL_ERROR)
# A customer id travels decoded and normalised in a path: these cannot.
PATH_TEXT = ("Percent-encoded. An id with `/`, or one that is `.` or `..`, cannot be sent in a "
             "path: use the operation's `?customer_id=` form, which reads any id.")


def error_codes() -> list[str]:
    """Every `error` an /api answer can carry: the reasons the operations list, and those
    of the HTTP errors any path can meet. The document's `ErrorCode` enum."""
    codes = set(HTTP_REASONS.values()) | {INTERNAL_ERROR, *NO_ROUTE.reasons}
    for refusal in COMMON_ERRORS.values():
        codes.update(refusal.reasons)
    for op in OPERATIONS:
        for refusal in op.errors.values():
            codes.update(refusal.reasons)
    return sorted(codes)


@dataclass
class Operation:
    method: str
    rule: str
    name: str
    summary: str
    scope: str
    body: type[BaseModel] | None
    responses: dict[int, type[BaseModel]]
    errors: dict[int, Refusal]
    upload: bool = False
    parameters: list[dict] = field(default_factory=list)
    public: bool = False


OPERATIONS: list[Operation] = []


def operation(
    method: str,
    rule: str,
    *,
    summary: str,
    responses: dict[int, type[BaseModel]],
    scope: str = "integration",
    body: type[BaseModel] | None = None,
    errors: dict[int, Refusal] | None = None,
    upload: bool = False,
    parameters: list[dict] | None = None,
    public: bool = False,
    decorators: tuple[Callable, ...] = (),
) -> Callable:
    """Register a view as an API operation. The view gets `body` (the validated model)
    and returns (model, status) or (model, status, headers); the status must be one of
    `responses`. `parameters` are the query and header parameters it reads."""

    def register(view: Callable) -> Callable:
        op = Operation(method, rule, view.__name__, summary, scope, body, responses,
                       errors or {}, upload, parameters or [], public)
        OPERATIONS.append(op)

        @functools.wraps(view)
        def endpoint(**kwargs: Any):
            if not public:
                authenticate(scope)
            if body is not None:
                kwargs["body"] = parse(body)
            result, status, *headers = view(**kwargs)
            assert status in responses, (op.name, status)
            return result.model_dump(mode="json"), status, *headers

        wrapped = endpoint
        for decorator in decorators:
            wrapped = decorator(wrapped)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        return wrapped

    return register


def parse(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body validated by the model, or a 400 naming the wrong fields."""
    if not request.is_json:
        raise ApiError(400, "invalid_request", "The body must be a JSON object "
                       "(Content-Type: application/json).")
    try:
        # From the raw JSON: strict models then still read ISO 8601 strings as times.
        return model.model_validate_json(request.get_data())
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ApiError(400, "invalid_request", "Some fields are wrong.", fields=fields) from exc


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi() -> dict:
    """The OpenAPI 3.1 document, built from the registered operations and their models."""
    models = {Error, *EVENT_BODIES.values()}
    for op in OPERATIONS:
        models.update(op.responses.values())
        if op.body is not None:
            models.add(op.body)
    keyed = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
    refs, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})

    def ref(model: type[BaseModel]) -> dict:
        return refs[(model, "validation")]

    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        path = bp.url_prefix + _PARAM.sub(lambda m: "{" + m.group(2) + "}", op.rule)
        path_params = _PARAM.findall(op.rule)
        parameters = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": CONVERTERS[conv].largest}
             if conv in CONVERTERS
             else {"type": "string", "minLength": 1, "maxLength": 200, "pattern": TEXT_PATTERN},
             **({} if conv in CONVERTERS else {"description": PATH_TEXT})}
            for conv, name in path_params
        ] + op.parameters
        responses: dict[str, Any] = {
            str(status): {"description": "OK" if status < 300 else "Done", "headers": REQUEST_ID_HEADER,
                          "content": {"application/json": {"schema": ref(model)}}}
            for status, model in op.responses.items()
        }
        routing = {404: NO_ROUTE} if path_params else {}
        errors = {} if op.public else _merged(routing, COMMON_ERRORS, op.errors)
        for status, refusal in sorted(errors.items()):
            responses[str(status)] = _error_response(ref(Error), refusal, status)
        responses["default"] = _error_response(ref(Error), INTERNAL, 500)
        entry: dict[str, Any] = {"operationId": op.name, "summary": op.summary,
                                 "parameters": parameters, "responses": responses}
        if not op.public:
            entry["security"] = [{"bearer": []}]
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": ref(op.body)}}}
        if op.upload:
            # Any bytes are a file to read; lines that are not codes come back as rejections.
            text = {"schema": {"type": "string", "format": "binary",
                               "description": "The file's content: CSV or one code per line."}}
            entry["requestBody"] = {"required": True, "content": {
                "text/csv": text, "text/plain": text,
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}},
            }}
        paths.setdefault(path, {})[op.method.lower()] = entry
    for schema in schemas.values():
        _drop_impossible_defaults(schema)
    schemas["ErrorCode"] = {"type": "string", "enum": error_codes(), "description": (
        "Every machine-readable reason an error can carry; each response lists its own.")}
    schemas["Error"]["properties"]["error"] = {
        "$ref": "#/components/schemas/ErrorCode",
        "description": schemas["Error"]["properties"]["error"]["description"]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Voucher portal API", "version": "1.0.0", "description": (
            "Pools, codes, assignment and redemption for tills and integrations. Every error is "
            "JSON in the `Error` shape: `{error, message, request_id}`, `fields` on every 400, and "
            "the members its reason documents. A request that does not match this document "
            "is refused with 400 `invalid_request`; one that does but breaks a rule the "
            "document cannot state (two fields together, the state of a pool, what this "
            "server has set up) with 422 or 409 and the reason each response lists.")},
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": {name: _webhook(name, ref(model)) for name, model in EVENT_BODIES.items()},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A key from `portal create-api-key`."}},
        },
    }


def _webhook(name: str, body: dict) -> dict:
    """An event as the document's `webhooks` states it: what the portal POSTs to an
    endpoint that asked for it, and what the receiver answers."""
    return {"post": {
        "operationId": "event_" + name.replace(".", "_"), "summary": f"The `{name}` event",
        "description": "Signed as Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
                       "`webhook-signature`) with the endpoint's secret.",
        "parameters": [{"name": header, "in": "header", "required": True, "schema": {"type": "string"}}
                       for header in ("webhook-id", "webhook-timestamp", "webhook-signature")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": {"description": "Any 2xx answer acknowledges the event; anything "
                                             "else, or no answer, is retried (later events wait)."}}}}


def _error_response(error: dict, refusal: Refusal, status: int) -> dict:
    """An error status as the document states it: the `Error` shape, narrowed to the
    reasons this status carries here; a 400 always names its `fields`."""
    reasons = ", ".join(f"`{reason}`" for reason in refusal.reasons)
    narrowed: dict[str, Any] = {"properties": {"error": {"enum": list(refusal.reasons)}}}
    if status == 400:
        narrowed["required"] = ["fields"]
    return {"description": f"{refusal.text} ({reasons})",
            "headers": {**REQUEST_ID_HEADER, **ERROR_HEADERS.get(status, {})},
            "content": {"application/json": {"schema": {"allOf": [error, narrowed]}}}}


def _merged(*tables: dict[int, Refusal]) -> dict[int, Refusal]:
    """The error statuses of an operation: each status's text from the last table that
    has it, its reasons from all of them."""
    merged: dict[int, Refusal] = {}
    for table in tables:
        for status, refusal in table.items():
            earlier = merged.get(status)
            reasons = (earlier.reasons if earlier else ()) + refusal.reasons
            merged[status] = Refusal(refusal.text, tuple(dict.fromkeys(reasons)))
    return merged


def _drop_impossible_defaults(schema: dict) -> None:
    """A field that may be left out but never be null (PATCH's name, status, ...) has no
    default in the document: pydantic writes `default: null` for it."""
    for prop in schema.get("properties", {}).values():
        nullable = prop.get("type") == "null" or any(
            option.get("type") == "null" for option in prop.get("anyOf", ()))
        if "default" in prop and prop["default"] is None and not nullable:
            del prop["default"]
