"""The OpenAPI 3.1 description of the JSON API (and the image routes it links to)."""

from __future__ import annotations

from functools import cache
from typing import Any

from search.library import MAX_RESULTS
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
                },
            },
        ],
        "unevaluatedProperties": False,
    },
    "SearchResponse": {
        "type": "object",
        "required": ["query", "results", "took_ms", "next_cursor", "next"],
        "additionalProperties": False,
        "properties": {
            "query": {
                "type": "object",
                "required": ["type", "q", "image_id", "k", "offset"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["text", "image_id", "image"]},
                    "q": NULLABLE_STRING,
                    "image_id": {"type": ["integer", "null"]},
                    "k": {"type": "integer"},
                    "offset": {"type": "integer"},
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
        "description": "Exactly one of q and image_id.",
        "properties": {
            "q": {"type": "string", "minLength": 1},
            "image_id": {"type": "integer", "minimum": 1},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "cursor": {"type": "string"},
        },
    },
    "UploadSearchRequest": {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "contentMediaType": "application/octet-stream"},
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
                    "parameters": [IMAGE_ID_PATH, *PAGE_PARAMETERS],
                    "responses": {**search_responses, **_errors(400, 404, 503)},
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
