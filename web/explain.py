"""``/api/images/<id>/explain``: why an indexed image matches a query, as JSON (the grid, the
score drops, the crop box) or as a PNG overlay. The query is given as a search gives it: its
parameters are the search request's own subject fields (``q``, ``image_id``, ``exclude``, and
``terms`` in a JSON body), turned into query terms by the same code as a search."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify
from pydantic import Field, create_model

from pixsift.search.explain.records import Explanation
from pixsift.search.explain.render import overlay_png
from pixsift.search.explain.service import Explainer
from pixsift.search.query.request import Contract, QueryTerm
from pixsift.web.parsing import Operation, operation
from pixsift.web.results import make_search_query, require_query
from pixsift.web.schemas import SearchParams
from pixsift.web.state import get_library

bp = Blueprint("explain", __name__, url_prefix="/api")

#: The search parameters that say what is searched for (the rest rank or filter the results).
SUBJECT_FIELDS = ("q", "image_id", "exclude", "terms")
ExplainFormat = Literal["json", "png"]


def _search_field(name: str) -> tuple[Any, Any]:
    declared = SearchParams.model_fields[name]
    return declared.annotation, declared


ExplainParams: type[Contract] = create_model(  # type: ignore[call-overload]
    "ExplainParams",
    __base__=Contract,
    __doc__="The query to explain, as a search names it (image_id: an indexed image as the "
    "query), and the answer's format.",
    **{name: _search_field(name) for name in SUBJECT_FIELDS},
    format=(
        ExplainFormat,
        Field("json", description="json: the grid and its scores; png: the overlay picture."),
    ),
)

EXPLAIN_RESPONSES: dict[int, Any] = {200: (Explanation, "image/png")}


@bp.get("/images/<int:image_id>/explain")
@operation(
    Operation(
        "Which regions of an indexed image raise its score for a query (a heatmap)",
        query=ExplainParams,
        responses=EXPLAIN_RESPONSES,
    )
)
def explain(params: Any, image_id: int) -> Response:
    return explain_response(params, image_id)


@bp.post("/images/<int:image_id>/explain")
@operation(
    Operation(
        "The same explanation for a query given as a JSON body (weighted terms)",
        body=ExplainParams,
        responses=EXPLAIN_RESPONSES,
    )
)
def explain_post(params: Any, image_id: int) -> Response:
    return explain_response(params, image_id)


def query_terms(params: Any) -> tuple[QueryTerm, ...]:
    """The terms a search with the same subject would run."""
    subject = {name: getattr(params, name) for name in SUBJECT_FIELDS}
    search = SearchParams.parse({k: v for k, v in subject.items() if v not in (None, ())})
    return require_query(make_search_query(search)).search_request().terms


def explain_query_string(values: Mapping[str, Any]) -> str:
    """The query-string parameters of an explanation for the search ``values`` name (its q,
    image_id and exclude); empty when they name none a GET can carry."""
    given = {name: values.get(name) for name in SUBJECT_FIELDS if name != "terms"}
    return urlencode({name: value for name, value in given.items() if value not in (None, "")})


def explain_response(params: Any, image_id: int) -> Response:
    library = get_library()
    explainer = Explainer(library)
    if params.format == "json":
        # A remembered explanation is found by its terms: no file read, no query embedding.
        remembered = explainer.cached(image_id, query_terms(params))
        if remembered is not None:
            return jsonify(remembered.model_dump(mode="json"))
    picture = explainer.picture(image_id)
    explanation = explainer.explain(picture, query_terms(params))
    if params.format == "png":
        return Response(overlay_png(picture.pixels, explanation), mimetype="image/png")
    return jsonify(explanation.model_dump(mode="json"))
