"""The JSON API under ``/api``: search (text, example image, indexed image), image metadata,
library stats, health and the OpenAPI document. Errors are answered by web.errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from search.errors import InvalidInputError
from search.library import Library
from search.query.duplicates import DEFAULT_DUPLICATE_THRESHOLD
from search.query.export import hits_to_csv
from web.errors import InvalidJSONError, UnsupportedMediaTypeError
from web.openapi import openapi_document
from web.results import (
    FILTER_PARAMS,
    build_search_results,
    image_json,
    parse_search_query,
    require_query,
    run_query,
)
from web.state import get_library

bp = Blueprint("api", __name__, url_prefix="/api")

JSON_SEARCH_FIELDS = frozenset(
    {"q", "k", "cursor", "image_id", "terms", "mode", "order", "min_score", "collapse", "exclude"}
    | set(FILTER_PARAMS)
)
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


@bp.get("/search")
def search() -> Response:
    query = require_query(parse_search_query(request.args))
    return jsonify(build_search_results(get_library(), query))


@bp.get("/search.csv")
def search_csv() -> Response:
    query = require_query(parse_search_query(request.args))
    page = run_query(get_library(), query)
    return Response(
        hits_to_csv(page.hits if page is not None else []),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="pixsift-results.csv"'},
    )


@bp.get("/duplicates")
def duplicates() -> Response:
    return jsonify(duplicates_json(get_library(), request.args.get("threshold")))


def duplicates_json(library: Library, threshold_param: Any) -> dict[str, Any]:
    threshold = parse_threshold(threshold_param)
    groups = library.duplicate_groups(threshold)
    records = library.images([image_id for group in groups for image_id in group])
    return {
        "threshold": threshold,
        "groups": [
            {"images": [image_json(records[i]) for i in group if i in records]} for group in groups
        ],
    }


def parse_threshold(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_DUPLICATE_THRESHOLD
    try:
        threshold = float(str(value)[:40])
    except ValueError:
        raise InvalidInputError("threshold must be a number in (0, 1]") from None
    if not 0 < threshold <= 1:  # also refuses nan
        raise InvalidInputError("threshold must be a number in (0, 1]")
    return threshold


@bp.post("/search")
def search_post() -> Response:
    if request.mimetype == "application/json":
        query = parse_search_query(_json_object(JSON_SEARCH_FIELDS))
    elif request.mimetype in FORM_TYPES:
        query = parse_search_query(request.form, request.files.get("image"))
    else:
        raise UnsupportedMediaTypeError(
            "send application/json, or multipart/form-data with the image in the field 'image'"
        )
    query = require_query(query)
    return jsonify(build_search_results(get_library(), query))


@bp.get("/images/<int:image_id>/similar")
def similar(image_id: int) -> Response:
    query = require_query(parse_search_query(request.args, image_id=image_id))
    return jsonify(build_search_results(get_library(), query))


@bp.get("/images/<int:image_id>")
def image(image_id: int) -> Response:
    return jsonify(image_json(get_library().image(image_id)))


@bp.get("/stats")
def stats() -> Response:
    return jsonify(stats_json(get_library()))


@bp.get("/health")
def health() -> Response:
    library = get_library()
    library.store.index_generation()  # one cheap query: the database answers
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


def stats_json(library: Library) -> dict[str, Any]:
    facts = library.stats()
    return {
        "image_count": facts.image_count,
        "failure_count": facts.failure_count,
        "model": facts.model_id,
        "index_type": facts.index_type,
        "index_generation": facts.index_generation,
        "last_indexed_at": facts.last_indexed_at.isoformat() if facts.last_indexed_at else None,
        "roots": facts.root_paths,
    }


def _json_object(allowed: frozenset[str]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidJSONError("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidJSONError(
            f"unknown field {unknown[0][:40]!r}; known fields: {', '.join(sorted(allowed))}"
        )
    return body
