"""The browsing pages: folders, the hidden pictures, and the forms that hide, show again and
decide duplicates. They render the data web.browse_api builds (the same the JSON API answers);
the forms carry the page's CSRF token like every other form, and the library checks the caller
may edit (search.decisions)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, redirect, render_template, request, url_for

from pixsift.search.decisions import Decisions, NotDuplicatesRequest
from pixsift.web.auth import principal, safe_next
from pixsift.web.browse_api import folder_data, hidden_data
from pixsift.web.browse_schemas import FolderParams, PageParams
from pixsift.web.parsing import read_args
from pixsift.web.state import get_library

bp = Blueprint("browse_pages", __name__)


@bp.get("/folders")
def folders() -> str:
    params = read_args(PageParams, request.args, skip_empty=True)
    data = folder_data(get_library(), FolderParams(k=params.k, cursor=params.cursor))
    return render_template("folders.html", data=data, more_url=None)


@bp.get("/folders/<int:root_id>/")
@bp.get("/folders/<int:root_id>/<path:path>")
def folder(root_id: int, path: str = "") -> str:
    params = read_args(PageParams, request.args, skip_empty=True)
    data = folder_data(
        get_library(), FolderParams(root=root_id, path=path, k=params.k, cursor=params.cursor)
    )
    more_url = None
    if data["next_cursor"]:
        more_url = url_for(
            "browse_pages.folder",
            root_id=root_id,
            path=path,
            k=params.k,
            cursor=data["next_cursor"],
        )
    return render_template("folders.html", data=data, more_url=more_url)


@bp.get("/hidden")
def hidden() -> str:
    params = read_args(PageParams, request.args, skip_empty=True)
    data = hidden_data(get_library(), params)
    more_url = None
    if data["next_cursor"]:
        more_url = url_for("browse_pages.hidden", k=params.k, cursor=data["next_cursor"])
    return render_template("hidden.html", data=data, more_url=more_url)


@bp.post("/images/<int:image_id>/hide")
def hide(image_id: int) -> Response:
    Decisions(get_library().store, principal()).hide(image_id)
    return _back(url_for("pages.image_page", image_id=image_id))


@bp.post("/images/<int:image_id>/unhide")
def unhide(image_id: int) -> Response:
    Decisions(get_library().store, principal()).unhide(image_id)
    return _back(url_for("pages.image_page", image_id=image_id))


@bp.post("/duplicates/not-duplicates")
def not_duplicates() -> Response:
    decision = NotDuplicatesRequest.parse({"image_ids": request.form.getlist("image_ids")})
    decisions = Decisions(get_library().store, principal())
    if request.form.get("undo"):
        decisions.unmark_not_duplicates(decision)
    else:
        decisions.mark_not_duplicates(decision)
    return _back(url_for("duplicates_view.duplicates"))


def _back(default: str) -> Response:
    """To the page the form came from (a path on this server), else ``default``."""
    target = request.form.get("next")
    return redirect(safe_next(target) if target else default, code=303)  # type: ignore[return-value]


@bp.app_template_global("is_hidden")
def is_hidden(image_id: int) -> bool:
    """For the image page's "Hide from results" / "Show again" control."""
    return Decisions(get_library().store, principal()).is_hidden(image_id)


@bp.app_template_filter("month_heading")
def month_heading(value: str) -> str:
    """``2024-05-04T10:00:00`` as "May 2024" (the timeline's month headings)."""
    return datetime.fromisoformat(value).strftime("%B %Y")


@bp.app_template_filter("day_heading")
def day_heading(value: str) -> str:
    """``2024-05-04T10:00:00`` as "Saturday 4 May 2024" (timeline.js writes the same)."""
    moment = datetime.fromisoformat(value)
    return f"{moment:%A} {moment.day} {moment:%B %Y}"
