"""The JSON API under ``/api``: search (text, example image, indexed image), image metadata,
library stats, health and the OpenAPI document. Each view declares its :class:`Operation`
(what it reads and answers); the request is parsed by that declaration and the OpenAPI document
is generated from it. Errors are answered by web.errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.datastructures import FileStorage

from pixsift.search.library import Library
from pixsift.search.query.export import hits_to_csv
from pixsift.search.visibility import visible_hit, visible_stats
from pixsift.web.auth import visibility
from pixsift.web.parsing import Operation, operation
from pixsift.web.results import (
    build_search_results,
    image_json,
    make_search_query,
    require_query,
    run_query,
)
from pixsift.web.schemas import (
    Duplicates,
    DuplicatesParams,
    Health,
    ImageOut,
    SearchParams,
    SearchResults,
    Stats,
    dump,
)
from pixsift.web.schemas_openapi import openapi_document
from pixsift.web.state import get_library

bp = Blueprint("api", __name__, url_prefix="/api")

SEARCH = Operation(
    "Search by text, an indexed image or weighted terms",
    query=SearchParams,
    responses={200: SearchResults},
)


@bp.get("/search")
@operation(SEARCH)
def search(params: SearchParams) -> Response:
    query = require_query(make_search_query(params))
    return jsonify(build_search_results(get_library(), query))


@bp.get("/search.csv")
@operation(Operation("The same search as CSV", query=SearchParams, responses={200: "text/csv"}))
def search_csv(params: SearchParams) -> Response:
    query = require_query(make_search_query(params))
    page = run_query(get_library(), query)
    return Response(
        hits_to_csv([visible_hit(hit, visibility()) for hit in (page.hits if page else [])]),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="pixsift-results.csv"'},
    )


@bp.post("/search")
@operation(
    Operation(
        "Search with a JSON body, or by an uploaded example image (multipart)",
        body=SearchParams,
        upload=True,
        responses={200: SearchResults, 413: "error", 503: "error"},
    )
)
def search_post(params: SearchParams, upload: FileStorage | None) -> Response:
    query = require_query(make_search_query(params, upload))
    return jsonify(build_search_results(get_library(), query))


@bp.get("/images/<int:image_id>/similar")
@operation(
    Operation("Images like an indexed image", query=SearchParams, responses={200: SearchResults})
)
def similar(params: SearchParams, image_id: int) -> Response:
    query = require_query(make_search_query(params, image_id=image_id))
    return jsonify(build_search_results(get_library(), query))


@bp.get("/images/<int:image_id>")
@operation(Operation("An indexed image's metadata", responses={200: ImageOut}))
def image(image_id: int) -> Response:
    return jsonify(image_json(get_library().image(image_id)))


@bp.get("/duplicates")
@operation(
    Operation(
        "Groups of near-duplicate images", query=DuplicatesParams, responses={200: Duplicates}
    )
)
def duplicates(params: DuplicatesParams) -> Response:
    return jsonify(duplicates_json(get_library(), params))


def duplicates_json(library: Library, params: DuplicatesParams) -> dict[str, Any]:
    groups = library.duplicate_groups(params.threshold)
    records = library.images([image_id for group in groups for image_id in group])
    return {
        "threshold": params.threshold,
        "groups": [
            {"images": [image_json(records[i]) for i in group if i in records]} for group in groups
        ],
    }


@bp.get("/stats")
@operation(Operation("Library statistics", responses={200: Stats}))
def stats() -> Response:
    return jsonify(stats_json(get_library()))


def stats_json(library: Library) -> dict[str, Any]:
    return dump(visible_stats(library.stats(), visibility()))


@bp.get("/health")
@operation(Operation("The server and its database answer", responses={200: Health}))
def health() -> Response:
    get_library().store.index_generation()  # one cheap query: the database answers
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
@operation(Operation("This document", responses={200: "application/json"}))
def openapi() -> Response:
    return jsonify(openapi_document(current_app))
