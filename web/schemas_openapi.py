"""The OpenAPI document, generated: the paths from the app's routes and the :class:`Operation`
each view declares (the same declaration that parses its requests), the schemas from the
models' own JSON schema. Nothing here restates a field."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from pixsift.search.query.request import MAX_STORED_INTEGER, Contract, SearchFilters
from pixsift.web.parsing import JSON_ONLY_FIELDS, Operation
from pixsift.web.schemas import COMPONENTS, ErrorBody, SearchParams


class ImageVersion(Contract):
    v: str | None = Field(
        None,
        description="The content-hash prefix the API hands out in image URLs; with it the "
        "answer is cached as immutable, without it it is revalidated.",
    )


#: Operations of views declared elsewhere (the image files are served by web.images).
IMAGE_FILE_OPERATIONS = {
    "images.original": Operation(
        "The original image file",
        query=ImageVersion,
        responses={200: "image/*", 304: "not modified"},
    ),
    "images.thumbnail": Operation(
        "A thumbnail of the image",
        query=ImageVersion,
        responses={200: "image/*", 304: "not modified"},
    ),
    "images.sized": Operation(
        "The image at most {side} pixels long (256, 512, 768: thumbnails for dense screens; "
        "1600: the viewer's preview)",
        query=ImageVersion,
        responses={200: "image/*", 304: "not modified", 404: "error"},
    ),
}
#: Views whose URL holds the image id: a form field of the same name is not theirs to take.
PATH_FIELDS = {"image_id", "q", "terms"}


class ApiJsonSchema(GenerateJsonSchema):
    """The models' JSON schema as the API writes them: its dates carry no time zone when the
    library does not know one (a camera's local time), so they are ISO 8601 local date-times,
    not RFC 3339 ``date-time`` strings."""

    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        return {"type": "string", "pattern": LOCAL_DATE_TIME_PATTERN}


LOCAL_DATE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$"


def operations(app: Flask) -> list[tuple[str, str, str, Operation]]:
    """(OpenAPI path, method, endpoint, operation) for every declared view."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        declared = IMAGE_FILE_OPERATIONS.get(rule.endpoint) or getattr(view, "operation", None)
        if declared is None:
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", f"{{{argument}}}")
            path = path.replace(f"<{argument}>", f"{{{argument}}}")  # a text (a share token)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), rule.endpoint, declared))
    return found


def openapi_document(app: Flask) -> dict[str, Any]:
    declared = operations(app)
    models: list[type[BaseModel]] = [ErrorBody]
    for _, _, _, op in declared:
        models += [m for m in _answers(op) if isinstance(m, type)]
        models += [m for m in (op.body,) if m is not None]
    keys, schemas = models_json_schema(
        [(model, _mode(model)) for model in dict.fromkeys(models)],
        ref_template=COMPONENTS + "{model}",
        by_alias=True,
        schema_generator=ApiJsonSchema,
    )
    refs = {model: keys[(model, _mode(model))] for model in dict.fromkeys(models)}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, endpoint, op in declared:
        paths.setdefault(path, {})[method] = _operation(path, endpoint, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pixsift",
            "version": "1",
            "description": "Natural-language image search over a local library. Every error "
            'is JSON: {"error": {"code", "message"}}.',
        },
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _mode(model: type[BaseModel]) -> str:
    return (
        "validation"
        if issubclass(model, Contract) and model is not SearchFilters
        else ("serialization")
    )


def _operation(
    path: str, endpoint: str, op: Operation, refs: dict[type[BaseModel], dict[str, Any]]
) -> dict[str, Any]:
    item: dict[str, Any] = {"operationId": endpoint, "summary": op.summary}
    # The similar-images view takes its query from the path; others may take one beside it.
    skip = (
        PATH_FIELDS if "{image_id}" in path and op.query is SearchParams else set(JSON_ONLY_FIELDS)
    )
    parameters = [_path_parameter(name) for name in re.findall(r"{(\w+)}", path)]
    if op.query is not None:
        parameters += _query_parameters(op.query, skip)
    if parameters:
        item["parameters"] = parameters
    if op.body is not None:
        item["requestBody"] = _request_body(op, refs)
    item["responses"] = _responses(path, op, refs)
    return item


def _path_parameter(name: str) -> dict[str, Any]:
    if name == "token":
        text = {"type": "string", "minLength": 1, "maxLength": 120}
        return {"name": name, "in": "path", "required": True, "schema": text}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_STORED_INTEGER},
    }


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema without the null an optional field allows (an absent parameter is the
    null of a query string) and without its title."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "title", "default")}
    if len(options) == 1:
        return {**options[0], **rest}
    return rest | ({"anyOf": options} if options else {})


def _query_parameters(model: type[BaseModel], skip: set[str]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(
        ref_template=COMPONENTS + "{model}", schema_generator=ApiJsonSchema
    )
    properties = schema["properties"]
    parameters = []
    for name, schema in properties.items():
        if name in skip:
            continue
        plain = _plain(schema)
        description = plain.pop("description", None)
        parameter = {"name": name, "in": "query", "required": False, "schema": plain}
        if description:
            parameter["description"] = description
        if plain.get("type") == "array":
            parameter |= {"style": "form", "explode": True}
        parameters.append(parameter)
    return parameters


def _request_body(op: Operation, refs: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    assert op.body is not None
    content: dict[str, Any] = {"application/json": {"schema": refs[op.body]}}
    if op.upload:
        properties = {
            name: _plain(schema)
            for name, schema in op.body.model_json_schema()["properties"].items()
            if name not in JSON_ONLY_FIELDS
        }
        properties["image"] = {
            "type": "string",
            "format": "binary",
            "description": "An example image file to search by (with or without q).",
        }
        content["multipart/form-data"] = {"schema": {"type": "object", "properties": properties}}
    return {"required": True, "content": content}


def _responses(
    path: str, op: Operation, refs: dict[type[BaseModel], dict[str, Any]]
) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": refs[ErrorBody]}}}
    responses: dict[str, Any] = {}
    for status, answer in op.responses.items():
        for one in answer if isinstance(answer, tuple) else (answer,):
            described = _response(one, refs, error)
            earlier = responses.setdefault(str(status), described)
            if earlier is not described:  # one more media type of the same answer
                earlier["content"] = {**earlier["content"], **described["content"]}
    if op.query is not None or op.body is not None:
        responses["400"] = {"description": "A parameter or body is not valid", **error}
    if "{image_id}" in path or path.startswith("/images/") or op.query is SearchParams:
        responses["404"] = {"description": "No image with this id (or its file is gone)", **error}
    responses["default"] = {"description": "An error, always in this shape", **error}
    return responses


def _answers(op: Operation) -> list[Any]:
    """Every answer ``op`` declares (a status may declare several media types)."""
    found: list[Any] = []
    for answer in op.responses.values():
        found += list(answer) if isinstance(answer, tuple) else [answer]
    return found


def _response(
    answer: type[BaseModel] | str,
    refs: dict[type[BaseModel], dict[str, Any]],
    error: dict[str, Any],
) -> dict[str, Any]:
    if isinstance(answer, type):
        schema = refs[answer]
        return {
            "description": answer.__doc__ or "OK",
            "content": {"application/json": {"schema": schema}},
        }
    if answer == "error":
        return {"description": "Refused", **error}
    if "/" in answer:
        schema = {"type": "string", "format": "binary"} if answer != "application/json" else {}
        return {"description": "OK", "content": {answer: {"schema": schema}}}
    return {"description": answer}


__all__ = ["SearchParams", "openapi_document", "operations"]
