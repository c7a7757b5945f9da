"""The HTML pages: the search page (text, example image or "more like this") and an image's page.

They call the same :func:`web.results.build_search_results` as the JSON API and only render it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from pixsift.search.query.request import EARLIEST_DATE, LATEST_DATE
from pixsift.search.tags.contract import TagNames
from pixsift.search.tags.service import LibraryTags
from pixsift.web.api import stats_json
from pixsift.web.browse_api import timeline_data
from pixsift.web.browse_schemas import TimelineParams
from pixsift.web.explain import ExplainParams, explain_query_string
from pixsift.web.filters_view import clear_url, filter_chips, picker_values
from pixsift.web.parsing import read_args
from pixsift.web.results import (
    SearchQuery,
    build_search_results,
    encode_cursor,
    image_json,
    make_search_query,
)
from pixsift.web.schemas import SearchParams
from pixsift.web.state import get_library
from pixsift.web.tags_api import require_tag_editor

bp = Blueprint("pages", __name__)


@bp.route("/", methods=["GET", "POST"])
def index() -> str:
    library = get_library()
    # A form sends its empty fields: on the page an empty field is an unset one.
    if request.method == "POST":
        upload = request.files.get("image")
        if upload is not None and not (upload.filename or upload.content_length):
            upload = None
        params = read_args(SearchParams, request.form, skip_empty=True)
        query = make_search_query(params, upload)
    else:
        query = make_search_query(read_args(SearchParams, request.args, skip_empty=True))
    data = None
    like = None
    timeline = None
    if query is None and request.method == "GET":
        # No query: the home is the library's timeline (web.browse_api), narrowed by filters.
        timeline = timeline_data(library, read_args(TimelineParams, request.args, skip_empty=True))
    if query is not None:
        data = build_search_results(library, query)
        if query.image_id is not None:
            like = image_json(library.image(query.image_id))
    return render_template(
        "index.html",
        query=query,
        data=data,
        like=like,
        timeline=timeline,
        timeline_more_url=_timeline_more_url(timeline),
        image_count=library.store.image_count(),
        more_url=_more_url(query, data),
        csv_url=_csv_url(query),
        weaker_url=_weaker_url(query),
        explain_query=_explain_query(query),
        earliest_date=f"{EARLIEST_DATE:%Y-%m-%d}",
        latest_date=f"{LATEST_DATE:%Y-%m-%d}",
        chips=filter_chips(query),
        clear_url=clear_url(query),
        **picker_values(library),
    )


@bp.get("/images/<int:image_id>")
def image_page(image_id: int) -> str:
    library = get_library()
    return render_template(
        "image.html",
        image=image_json(library.image(image_id)),
        tags=LibraryTags(library).of_image(image_id).tags,
        stats=stats_json(library),
        explain=read_args(ExplainParams, request.args, skip_empty=True),
    )


@bp.post("/images/<int:image_id>/tags")
def add_tag(image_id: int) -> Response:
    require_tag_editor()
    LibraryTags(get_library()).add(image_id, _form_tags())
    return redirect(url_for("pages.image_page", image_id=image_id), code=303)


@bp.post("/images/<int:image_id>/tags/remove")
def remove_tag(image_id: int) -> Response:
    require_tag_editor()
    LibraryTags(get_library()).remove(image_id, _form_tags())
    return redirect(url_for("pages.image_page", image_id=image_id), code=303)


def _form_tags() -> TagNames:
    """The form's tags: one field per tag, or several separated by commas."""
    words = [word for value in request.form.getlist("tags") for word in value.split(",")]
    return TagNames.parse({"tags": [word for word in words if word.strip()]})


def _timeline_more_url(timeline: dict[str, Any] | None) -> str | None:
    """The timeline's next page as a plain link (the same filters), for browsers without
    JavaScript."""
    if timeline is None or timeline["next_cursor"] is None:
        return None
    args = {
        name: request.args.getlist(name) for name in request.args if name not in ("cursor", "start")
    }
    return url_for("pages.index", **args, cursor=timeline["next_cursor"])


def _explain_query(query: SearchQuery | None) -> str:
    """What the results' "why?" overlays explain: the search's subject (not for an uploaded
    image, which a GET cannot carry)."""
    if query is None or query.upload is not None:
        return ""
    return explain_query_string(query.params.model_dump())


def _more_url(query: SearchQuery | None, data: dict[str, Any] | None) -> str | None:
    """The next page as a plain link, for browsers without JavaScript."""
    if query is None or data is None or data["next_cursor"] is None or query.upload is not None:
        return None
    return url_for(
        "pages.index",
        q=query.text,
        image_id=query.image_id,
        k=query.k,
        cursor=data["next_cursor"],
        **query.url_params(),
    )


def _weaker_url(query: SearchQuery | None) -> str | None:
    """The same search with weaker matches shown (the list otherwise stops where matches
    end); None when they are shown already or the search cannot be a link (an upload)."""
    if query is None or query.upload is not None or query.terms or query.params.weaker:
        return None
    return url_for(
        "pages.index",
        q=query.text,
        image_id=query.image_id,
        k=query.k,
        **{**query.url_params(), "weaker": "true"},
    )


def _csv_url(query: SearchQuery | None) -> str | None:
    """The current results as a CSV download (not for uploads or JSON-only terms)."""
    if query is None or query.upload is not None or query.terms:
        return None
    return url_for(
        "api.search_csv",
        q=query.text,
        image_id=query.image_id,
        k=query.k,
        cursor=encode_cursor(query.offset, query.fingerprint) if query.offset else None,
        **query.url_params(),
    )
