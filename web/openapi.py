"""The OpenAPI 3.1 description of the JSON API (and the image routes it links to)."""

from __future__ import annotations

from functools import cache
from typing import Any

from search.query.filters import ORIENTATIONS
from search.query.request import MAX_RESULTS, RESULT_ORDERS, SEARCH_MODES
from web.settings import MAX_PAGE_SIZE

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Bad input: missing or empty query, k or cursor out of range, malformed JSON, "
        "an upload that is not an image",
        404: "No indexed image has this id",
        413: "Body over the upload limit, or an image over the pixel limit",
        415: "Body in a content type this endpoint does not take",
        503: "The model's weights are not available",
    }
    return {
        **{str(status): _json(_ref("Error"), reasons[status]) for status in statuses},
        "default": _json(_ref("Error"), "Any other error"),
    }


PAGE_PARAMETERS = [
    {
        "name": "k",
        "in": "query",
        "description": f"Results per page (default: server page size; at most {MAX_PAGE_SIZE}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "Opaque token from a previous page's next_cursor (same query only).",
        "schema": {"type": "string"},
    },
]


def _option(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


STRING = {"type": "string"}
COUNT = {"type": "integer", "minimum": 0}
MEGAPIXELS = {"type": "number", "minimum": 0}
OPTION_PARAMETERS = [
    _option("mode", {"enum": list(SEARCH_MODES), "default": "hybrid"}, "How to rank."),
    _option("order", {"enum": list(RESULT_ORDERS), "default": "score"}, "Result order."),
    _option("min_score", {"type": "number", "minimum": -1, "maximum": 1}, "Minimum cosine."),
    _option("collapse", {"type": "boolean"}, "One result per near-duplicate group."),
    _option("exclude", STRING, "A text to subtract from the query (weight -1)."),
    _option("root", STRING, "Only images under this indexed root."),
    _option("folder", STRING, "Only images in this folder (relative to its root)."),
    _option("path", STRING, "Glob on the relative path, e.g. */beach-*.jpg."),
    _option("after", {"type": "string", "format": "date"}, "Taken on or after (ISO date)."),
    _option("before", {"type": "string", "format": "date"}, "Taken on or before (ISO date)."),
    _option("camera_make", STRING, "Camera make (case-insensitive)."),
    _option("camera_model", STRING, "Camera model (case-insensitive)."),
    _option("min_width", COUNT, "Pixels."),
    _option("max_width", COUNT, "Pixels."),
    _option("min_height", COUNT, "Pixels."),
    _option("max_height", COUNT, "Pixels."),
    _option("min_megapixels", MEGAPIXELS, "Megapixels."),
    _option("max_megapixels", MEGAPIXELS, "Megapixels."),
    _option("orientation", {"enum": list(ORIENTATIONS)}, "Image orientation."),
    {
        **_option("format", {"type": "array", "items": STRING}, "Format, e.g. JPEG."),
        "explode": True,
    },
    _option("min_size", COUNT, "File size in bytes."),
    _option("max_size", COUNT, "File size in bytes."),
    _option("has_gps", {"type": "boolean"}, "Has (true) or lacks (false) a GPS position."),
    _option("gps_box", STRING, "south,west,north,east in degrees."),
]
IMAGE_ID_PATH = {
    "name": "image_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "description": "Stable, machine-readable."},
                    "message": {"type": "string", "description": "For the person reading it."},
                },
            }
        },
    },
    "ImageLinks": {
        "type": "object",
        "required": ["thumbnail_url", "image_url", "similar_url", "page_url"],
        "properties": {
            "thumbnail_url": {"type": "string"},
            "image_url": {"type": "string"},
            "similar_url": {"type": "string", "description": "This API: more like this image."},
            "page_url": {"type": "string", "description": "The image's HTML page."},
        },
    },
    "SearchResult": {
        "allOf": [
            _ref("ImageLinks"),
            {
                "type": "object",
                "required": [
                    "id",
                    "score",
                    "name",
                    "path",
                    "root",
                    "width",
                    "height",
                    "format",
                    "taken_at",
                    "similarity",
                    "date",
                    "date_source",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "score": {"type": "number", "description": "Cosine similarity to the query."},
                    "name": {"type": "string", "description": "File name."},
                    "path": {"type": "string", "description": "Path relative to root."},
                    "root": {"type": "string", "description": "The indexed folder it is under."},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "format": {"type": "string"},
                    "taken_at": NULLABLE_STRING,
                    "similarity": {
                        **NULLABLE_NUMBER,
                        "description": "Cosine similarity to the query vector (score is the "
                        "fused rank score in hybrid and keyword modes).",
                    },
                    "date": {"type": "string", "description": "Taken, else file time."},
                    "date_source": {"enum": ["taken", "file"]},
                },
            },
        ],
        "unevaluatedProperties": False,
    },
    "QueryTerm": {
        "type": "object",
        "additionalProperties": False,
        "description": "Exactly one of text and image_id; a negative weight subtracts.",
        "properties": {
            "text": {"type": "string", "minLength": 1},
            "image_id": {"type": "integer", "minimum": 1},
            "weight": {"type": "number", "default": 1.0},
        },
    },
    "DuplicateGroups": {
        "type": "object",
        "required": ["groups", "threshold"],
        "additionalProperties": False,
        "properties": {
            "threshold": {"type": "number"},
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["images"],
                    "additionalProperties": False,
                    "properties": {"images": {"type": "array", "items": _ref("Image")}},
                },
            },
        },
    },
    "SearchResponse": {
        "type": "object",
        "required": ["query", "results", "took_ms", "next_cursor", "next"],
        "additionalProperties": False,
        "properties": {
            "query": {
                "type": "object",
                "required": [
                    "type",
                    "q",
                    "image_id",
                    "k",
                    "offset",
                    "mode",
                    "order",
                    "min_score",
                    "collapse",
                    "exclude",
                    "terms",
                    "filters",
                ],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["text", "image_id", "image", "combined"]},
                    "q": NULLABLE_STRING,
                    "image_id": {"type": ["integer", "null"]},
                    "k": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "mode": {"enum": list(SEARCH_MODES)},
                    "order": {"enum": list(RESULT_ORDERS)},
                    "min_score": NULLABLE_NUMBER,
                    "collapse": {"type": "boolean"},
                    "exclude": NULLABLE_STRING,
                    "terms": {"type": "array", "items": _ref("QueryTerm")},
                    "filters": {
                        "type": "object",
                        "description": "The filters given, by parameter name.",
                    },
                },
            },
            "results": {"type": "array", "items": _ref("SearchResult")},
            "took_ms": {"type": "number"},
            "next_cursor": {
                **NULLABLE_STRING,
                "description": f"Null on the last page (at most {MAX_RESULTS} results in all).",
            },
            "next": {
                **NULLABLE_STRING,
                "description": "URL of the next page; null on the last page and for uploads "
                "(send the image again with next_cursor).",
            },
        },
    },
    "SearchRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "q or image_id (not both), and/or terms; plus options and filters.",
        "properties": {
            "q": {"type": "string", "minLength": 1},
            "image_id": {"type": "integer", "minimum": 1},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "cursor": {"type": "string"},
            "terms": {"type": "array", "items": _ref("QueryTerm")},
            **{
                parameter["name"]: parameter["schema"]
                for parameter in OPTION_PARAMETERS
                if parameter["name"] != "format"
            },
            "format": {"type": "array", "items": {"type": "string"}},
        },
    },
    "UploadSearchRequest": {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "contentMediaType": "application/octet-stream"},
            "q": {"type": "string", "description": "A text combined with the image."},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "cursor": {"type": "string"},
        },
    },
    "Image": {
        "allOf": [
            _ref("ImageLinks"),
            {
                "type": "object",
                "required": [
                    "id",
                    "name",
                    "path",
                    "root",
                    "size_bytes",
                    "content_hash",
                    "width",
                    "height",
                    "format",
                    "taken_at",
                    "camera_make",
                    "camera_model",
                    "gps_latitude",
                    "gps_longitude",
                    "description",
                    "keywords",
                    "indexed_at",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "path": {"type": "string"},
                    "root": {"type": "string"},
                    "size_bytes": {"type": "integer"},
                    "content_hash": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "format": {"type": "string"},
                    "taken_at": NULLABLE_STRING,
                    "camera_make": NULLABLE_STRING,
                    "camera_model": NULLABLE_STRING,
                    "gps_latitude": NULLABLE_NUMBER,
                    "gps_longitude": NULLABLE_NUMBER,
                    "description": NULLABLE_STRING,
                    "keywords": NULLABLE_STRING,
                    "indexed_at": {"type": "string"},
                },
            },
        ],
        "unevaluatedProperties": False,
    },
    "Stats": {
        "type": "object",
        "required": [
            "image_count",
            "failure_count",
            "model",
            "index_type",
            "index_generation",
            "last_indexed_at",
            "roots",
        ],
        "additionalProperties": False,
        "properties": {
            "image_count": {"type": "integer"},
            "failure_count": {"type": "integer"},
            "model": NULLABLE_STRING,
            "index_type": {"type": "string"},
            "index_generation": {"type": "integer"},
            "last_indexed_at": NULLABLE_STRING,
            "roots": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {"status": {"const": "ok"}},
    },
}


def _binary(description: str) -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"image/*": {}}},
        "304": {"description": "Not modified (If-None-Match matched the ETag)"},
        "404": _json(_ref("Error"), "Unknown id, or the file is gone or changed"),
    }


@cache
def openapi_document() -> dict[str, Any]:
    search_responses = {"200": _json(_ref("SearchResponse"), "A page of results")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pixsift",
            "version": "1",
            "description": "Natural-language search over a self-hosted image library.",
        },
        "paths": {
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search by text (q) or by an indexed image (image_id)",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        {"name": "image_id", "in": "query", "schema": {"type": "integer"}},
                        *PAGE_PARAMETERS,
                        *OPTION_PARAMETERS,
                    ],
                    "responses": {**search_responses, **_errors(400, 404, 503)},
                },
                "post": {
                    "operationId": "searchPost",
                    "summary": "Search by text, by an indexed image, or by an uploaded image",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("SearchRequest")},
                            "multipart/form-data": {"schema": _ref("UploadSearchRequest")},
                        },
                    },
                    "responses": {**search_responses, **_errors(400, 404, 413, 415, 503)},
                },
            },
            "/api/images/{image_id}/similar": {
                "get": {
                    "operationId": "similar",
                    "summary": "More like this: the images most similar to an indexed image",
                    "parameters": [IMAGE_ID_PATH, *PAGE_PARAMETERS, *OPTION_PARAMETERS],
                    "responses": {**search_responses, **_errors(400, 404, 503)},
                }
            },
            "/api/search.csv": {
                "get": {
                    "operationId": "searchCsv",
                    "summary": "One page of search results as a CSV download (same parameters)",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        {"name": "image_id", "in": "query", "schema": {"type": "integer"}},
                        *PAGE_PARAMETERS,
                        *OPTION_PARAMETERS,
                    ],
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {}}},
                        **_errors(400, 404, 503),
                    },
                }
            },
            "/api/duplicates": {
                "get": {
                    "operationId": "duplicates",
                    "summary": "Groups of near-duplicate images",
                    "parameters": [
                        _option(
                            "threshold",
                            {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                            "Cosine similarity two images need to be duplicates (default 0.95).",
                        )
                    ],
                    "responses": {
                        "200": _json(_ref("DuplicateGroups"), "The groups"),
                        **_errors(400),
                    },
                }
            },
            "/api/images/{image_id}": {
                "get": {
                    "operationId": "image",
                    "summary": "An indexed image's metadata",
                    "parameters": [IMAGE_ID_PATH],
                    "responses": {"200": _json(_ref("Image"), "The image"), **_errors(404)},
                }
            },
            "/api/stats": {
                "get": {
                    "operationId": "stats",
                    "summary": "What the library holds",
                    "responses": {"200": _json(_ref("Stats"), "Library facts"), **_errors()},
                }
            },
            "/api/health": {
                "get": {
                    "operationId": "health",
                    "summary": "The server and its database answer",
                    "responses": {"200": _json(_ref("Health"), "Healthy"), **_errors()},
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
                }
            },
            "/images/{image_id}/original": {
                "get": {
                    "operationId": "original",
                    "summary": "The original file (ETag: content hash)",
                    "parameters": [IMAGE_ID_PATH],
                    "responses": _binary("The image file"),
                }
            },
            "/images/{image_id}/thumbnail": {
                "get": {
                    "operationId": "thumbnail",
                    "summary": "A small preview, made on first request and cached",
                    "parameters": [IMAGE_ID_PATH],
                    "responses": _binary("The thumbnail"),
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }
