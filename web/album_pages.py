"""The albums on the page: the list beside the smart albums, an album's pictures, adding from the
results (one, a selection, or all results of the search) and from the viewer, sharing. Plain
HTML forms (CSRF-protected like every cookie form), calling the same library code as the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from pixsift.search.album_members import album_page
from pixsift.search.albums import Albums
from pixsift.search.errors import InvalidInputError
from pixsift.search.query.request import MAX_RESULTS, SavedSearch, TermSpec
from pixsift.search.shares import ShareRequest, Shares
from pixsift.web.auth import principal, viewers_see_places
from pixsift.web.parsing import read_args
from pixsift.web.results import SearchQuery, image_out, run_query
from pixsift.web.schemas import SearchParams
from pixsift.web.state import get_library

bp = Blueprint("album_pages", __name__)


def _albums() -> Albums:
    return Albums(get_library().store, principal())


@bp.app_context_processor
def _album_values() -> dict[str, Any]:
    # A function, so that only the pages that show an album picker read the albums.
    return {"my_albums": lambda: _albums().list()}


@bp.get("/albums")
def albums_page() -> str:
    return render_template("albums.html", albums=_albums().list())


@bp.post("/albums")
def create_album() -> Response:
    params = read_args(SearchParams, request.form, skip_empty=True)
    search = None
    if request.form.get("smart"):
        terms = (TermSpec(text=params.q),) if params.q else ()
        options = {name: getattr(params, name) for name in SavedSearch.model_fields if
                   name not in ("terms", "filters")}  # fmt: skip
        search = SavedSearch.parse({"terms": terms, "filters": params.filters(), **options})
    album = _albums().create(request.form.get("name", ""), search)
    return redirect(url_for("album_pages.album", album_id=album.id), code=303)


@bp.get("/albums/<int:album_id>")
def album(album_id: int, new_link: str | None = None) -> str:
    offset = max(0, request.args.get("offset", 0, type=int))
    page = album_page(
        get_library(), _albums(), album_id, offset, 100, viewers_see_places=viewers_see_places()
    )
    links = [link for link in Shares(get_library().store, principal()).list()
             if link.album_id == album_id]  # fmt: skip
    return render_template(
        "album.html",
        album=page.album,
        images=[image_out(record).model_dump(by_alias=True) for record in page.images],
        total=page.total,
        next_offset=page.next_offset,
        links=links,
        new_link=new_link,
    )


@bp.post("/albums/add")
def add_to_album() -> Response:
    """Pictures by id (``image_id``, repeated), or every result of the search in the form
    (``all``)."""
    album_id = _chosen_album()
    ids = [int(value) for value in request.form.getlist("image_id") if value.isdigit()]
    if request.form.get("all"):
        # The search's own image id (a "more like this" search) travels apart from the ids.
        values = request.form.copy()
        values.setlist("image_id", values.getlist("image_id_query"))
        params = read_args(SearchParams, values, skip_empty=True)
        page = run_query(get_library(), SearchQuery(params=params, k=MAX_RESULTS))
        ids += [hit.id for hit in (page.hits if page else [])]
    _albums().add(album_id, ids)
    return redirect(url_for("album_pages.album", album_id=album_id), code=303)


def _chosen_album() -> int:
    """The album picked in the form, or a new one made with the name typed beside it."""
    album_id = request.form.get("album_id", type=int)
    if album_id is not None:
        return album_id
    name = request.form.get("new_album", "").strip()
    if not name:
        raise InvalidInputError("choose an album, or name a new one")
    return _albums().create(name).id


@bp.post("/albums/<int:album_id>/remove")
def remove_from_album(album_id: int) -> Response:
    ids = [int(value) for value in request.form.getlist("image_id") if value.isdigit()]
    _albums().remove(album_id, ids)
    return redirect(url_for("album_pages.album", album_id=album_id), code=303)


@bp.post("/albums/<int:album_id>/delete")
def delete_album(album_id: int) -> Response:
    _albums().delete(album_id)
    return redirect(url_for("album_pages.albums_page"), code=303)


@bp.post("/albums/<int:album_id>/share")
def share_album(album_id: int) -> str:
    form = request.form
    made = Shares(get_library().store, principal()).create(
        ShareRequest.parse({
            "album_id": album_id,
            "expires_in_days": form.get("expires_in_days") or None,
            "password": form.get("password") or None,
            "allow_originals": bool(form.get("allow_originals")),
        })
    )  # fmt: skip
    link = url_for("shares.shared_page", token=made.token, _external=True)
    return album(album_id, new_link=link)


@bp.post("/shares/<int:share_id>/revoke")
def revoke_link(share_id: int) -> Response:
    link = Shares(get_library().store, principal()).revoke(share_id)
    target = url_for("album_pages.album", album_id=link.album_id) if link.album_id else "/"
    return redirect(target, code=303)
