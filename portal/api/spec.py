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
from .auth import authenticate
from .blueprint import bp
from .errors import ApiError
from .schemas import Error

COMMON_ERRORS = {
    400: "Malformed JSON or wrong fields (`invalid_request`).",
    401: "No API key, or a wrong one (`unauthorized`).",
    403: "The key's scope does not allow this (`forbidden`).",
    413: "The body is over the configured limit (`too_large`).",
    429: "Too many requests (`rate_limited`); see `Retry-After`.",
}


@dataclass
class Operation:
    method: str
    rule: str
    name: str
    summary: str
    scope: str
    body: type[BaseModel] | None
    responses: dict[int, type[BaseModel]]
    errors: dict[int, str]
    upload: bool = False
    headers: list[dict] = field(default_factory=list)
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
    errors: dict[int, str] | None = None,
    upload: bool = False,
    headers: list[dict] | None = None,
    public: bool = False,
    decorators: tuple[Callable, ...] = (),
) -> Callable:
    """Register a view as an API operation. The view gets `body` (the validated model)
    and returns (model, status); the status must be one of `responses`."""

    def register(view: Callable) -> Callable:
        op = Operation(method, rule, view.__name__, summary, scope, body, responses,
                       errors or {}, upload, headers or [], public)
        OPERATIONS.append(op)

        @functools.wraps(view)
        def endpoint(**kwargs: Any):
            if not public:
                authenticate(scope)
            if body is not None:
                kwargs["body"] = parse(body)
            result, status = view(**kwargs)
            assert status in responses, (op.name, status)
            return result.model_dump(mode="json"), status

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
    models = {Error}
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
        parameters = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": CONVERTERS[conv].largest}
             if conv in CONVERTERS
             else {"type": "string", "minLength": 1, "maxLength": 200}}
            for conv, name in _PARAM.findall(op.rule)
        ] + op.headers
        responses: dict[str, Any] = {
            str(status): {"description": "OK" if status < 300 else "Done",
                          "content": {"application/json": {"schema": ref(model)}}}
            for status, model in op.responses.items()
        }
        errors = {} if op.public else {**COMMON_ERRORS, **op.errors}
        for status, text in sorted(errors.items()):
            responses[str(status)] = {
                "description": text, "content": {"application/json": {"schema": ref(Error)}}}
        entry: dict[str, Any] = {"operationId": op.name, "summary": op.summary,
                                 "parameters": parameters, "responses": responses}
        if not op.public:
            entry["security"] = [{"bearer": []}]
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": ref(op.body)}}}
        if op.upload:
            # Any bytes are a file to read; lines that are not codes come back as rejections.
            text = {"schema": {"description": "The file's content: CSV or one code per line."}}
            entry["requestBody"] = {"required": True, "content": {
                "text/csv": text, "text/plain": text,
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}},
            }}
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Voucher portal API", "version": "1.0.0",
                 "description": "Pools, codes, assignment and redemption for tills and "
                                "integrations. Every error is JSON `{error, message}`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A key from `portal create-api-key`."}},
        },
    }
