"""Requests into the contract's models: query strings, forms (with an uploaded image) and JSON
bodies, and the :func:`operation` declaration each API view carries. The declaration both
parses the request and, in :mod:`web.schemas_openapi`, documents it: what is documented is what
is parsed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, get_args, get_origin

from flask import request
from pydantic import BaseModel
from werkzeug.datastructures import FileStorage, MultiDict

from pixsift.search.errors import InvalidInputError
from pixsift.search.query.request import Contract
from pixsift.web.errors import InvalidJSONError, PayloadTooLargeError, UnsupportedMediaTypeError

M = TypeVar("M", bound=Contract)
F = TypeVar("F", bound=Callable[..., Any])

#: A search body is a few hundred bytes; JSON larger than this is refused before parsing.
MAX_JSON_BYTES = 64 * 1024
#: Deepest nesting a request body may have (a search body needs 3).
MAX_JSON_DEPTH = 16
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
#: Fields made of objects: a query string or a form cannot carry them.
JSON_ONLY_FIELDS = frozenset({"terms"})


@dataclass(frozen=True)
class Operation:
    """One API operation: what it reads and what it answers."""

    summary: str
    #: Query-string parameters (GET).
    query: type[Contract] | None = None
    #: JSON body; with ``upload`` also the fields of a multipart form with an ``image`` file.
    body: type[Contract] | None = None
    upload: bool = False
    #: Per status: a model (JSON), a media type, a description, or a tuple of them (one answer
    #: in several media types).
    responses: Mapping[int, Any] = field(default_factory=dict)


def operation(declared: Operation) -> Callable[[F], F]:
    """Parse the request as ``declared`` says and call the view with ``params`` (the model) and,
    for uploads, ``upload`` (the file or None)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def parse_then_call(**path: Any) -> Any:
            if declared.query is not None:
                return view(params=read_args(declared.query, request.args), **path)
            if declared.body is not None:
                params, upload = read_body(declared)
                extra = {"upload": upload} if declared.upload else {}
                return view(params=params, **extra, **path)
            return view(**path)

        parse_then_call.operation = declared  # type: ignore[attr-defined]
        return parse_then_call  # type: ignore[return-value]

    return decorate


def field_is_list(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    return get_origin(annotation) in (tuple, list) or any(
        get_origin(arg) in (tuple, list) for arg in get_args(annotation)
    )


def form_values(
    model: type[BaseModel], values: MultiDict[str, str], *, skip_empty: bool = False
) -> dict[str, Any]:
    """The model's fields from a query string or form (repeated names give lists; other names,
    and fields only JSON can carry, are ignored). ``skip_empty`` drops empty fields, as an HTML
    form sends them."""
    found: dict[str, Any] = {}
    for name in model.model_fields:
        if name in JSON_ONLY_FIELDS:
            continue
        items = [v for v in values.getlist(name) if not (skip_empty and v == "")]
        if not items:
            continue
        if field_is_list(model, name):
            found[name] = items
        elif len(items) > 1:
            raise InvalidInputError(f"{name}: give it once, not {len(items)} times")
        else:
            found[name] = items[0]
    return found


def read_args(model: type[M], values: MultiDict[str, str], *, skip_empty: bool = False) -> M:
    return model.parse(form_values(model, values, skip_empty=skip_empty))


def read_body(declared: Operation) -> tuple[Any, FileStorage | None]:
    model = declared.body
    assert model is not None
    if request.mimetype == "application/json":
        return read_json(model), None
    if declared.upload and request.mimetype in FORM_TYPES:
        values = form_values(model, request.form)
        upload = request.files.get("image")
        if upload is not None and not (upload.filename or upload.content_length):
            upload = None
        return model.parse(values), upload
    upload = ", or multipart/form-data with the image in the field 'image'"
    raise UnsupportedMediaTypeError(f"send application/json{upload if declared.upload else ''}")


def read_json(model: type[M]) -> M:
    """A JSON object body, bounded in size and depth before it is parsed, then validated
    strictly by ``model``."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise PayloadTooLargeError(f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLargeError(f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidJSONError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidJSONError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidJSONError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(model.model_fields))
    if unknown:
        raise InvalidJSONError(
            f"unknown field {unknown[0][:40]!r}; known fields: {', '.join(model.model_fields)}"
        )
    return model.parse_json(raw)


def json_depth(raw: bytes) -> int:
    """How deeply ``raw``'s arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest
