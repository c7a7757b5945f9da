"""Albums and smart albums under ``/api/albums``: a caller's own albums (an admin's: everyone's).
Every view declares its :class:`Operation`, so the OpenAPI document lists them."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from pixsift.search.album_export import album_to_csv
from pixsift.search.album_members import album_page, member_ids
from pixsift.search.albums import AlbumRecord, Albums
from pixsift.search.library import Library
from pixsift.search.query.request import MAX_RESULTS
from pixsift.search.visibility import visible_record
from pixsift.web.album_schemas import (
    AlbumChange,
    AlbumChanged,
    AlbumContents,
    AlbumCreate,
    AlbumList,
    AlbumPageParams,
    AlbumRename,
    Deleted,
)
from pixsift.web.auth import principal, viewers_see_places, visibility
from pixsift.web.parsing import Operation, operation
from pixsift.web.results import SearchQuery, image_out, require_query, run_query
from pixsift.web.schemas import dump
from pixsift.web.state import get_library

bp = Blueprint("albums_api", __name__, url_prefix="/api/albums")


def albums() -> Albums:
    return Albums(get_library().store, principal())


@bp.get("")
@operation(Operation("The caller's albums and smart albums", responses={200: AlbumList}))
def list_albums() -> Response:
    return jsonify(dump(AlbumList(albums=albums().list())))


@bp.post("")
@operation(
    Operation(
        "Create an album (with a search: a smart album)",
        body=AlbumCreate,
        responses={201: AlbumRecord},
    )
)
def create_album(params: AlbumCreate) -> tuple[Response, int]:
    if params.search is not None and not visibility().gps:
        # A smart album's search runs later, for whoever opens it: its filters are checked
        # against its maker's rights now (as the maker's own searches are, in run_query).
        params.search.filters.refuse_location()
    return jsonify(dump(albums().create(params.name, params.search))), 201


@bp.get("/<int:album_id>")
@operation(
    Operation(
        "An album's pictures, in order",
        query=AlbumPageParams,
        responses={200: AlbumContents, 404: "error"},
    )
)
def show_album(params: AlbumPageParams, album_id: int) -> Response:
    page = album_page(
        get_library(),
        albums(),
        album_id,
        params.offset,
        params.k,
        viewers_see_places=viewers_see_places(),
    )
    contents = AlbumContents(
        album=page.album,
        images=[image_out(record) for record in page.images],
        total=page.total,
        offset=page.offset,
        next_offset=page.next_offset,
    )
    return jsonify(dump(contents))


@bp.post("/<int:album_id>/rename")
@operation(
    Operation("Rename an album", body=AlbumRename, responses={200: AlbumRecord, 404: "error"})
)
def rename_album(params: AlbumRename, album_id: int) -> Response:
    return jsonify(dump(albums().rename(album_id, params.name)))


@bp.delete("/<int:album_id>")
@operation(Operation("Delete an album (never its files)", responses={200: Deleted, 404: "error"}))
def delete_album(album_id: int) -> Response:
    albums().delete(album_id)
    return jsonify(dump(Deleted(deleted=album_id)))


@bp.post("/<int:album_id>/items")
@operation(
    Operation(
        "Add pictures (a smart album pins them): ids or all results of a search",
        body=AlbumChange,
        responses={200: AlbumChanged, 404: "error"},
    )
)
def add_items(params: AlbumChange, album_id: int) -> Response:
    kept = albums()
    changed = kept.add(album_id, _image_ids(get_library(), params))
    return jsonify(dump(AlbumChanged(album=kept.get(album_id), changed=changed)))


@bp.post("/<int:album_id>/items/remove")
@operation(
    Operation(
        "Remove pictures (a smart album excludes them); files are never touched",
        body=AlbumChange,
        responses={200: AlbumChanged, 404: "error"},
    )
)
def remove_items(params: AlbumChange, album_id: int) -> Response:
    kept = albums()
    changed = kept.remove(album_id, _image_ids(get_library(), params))
    return jsonify(dump(AlbumChanged(album=kept.get(album_id), changed=changed)))


@bp.get("/<int:album_id>/export.csv")
@operation(Operation("An album's pictures as CSV", responses={200: "text/csv", 404: "error"}))
def export_album(album_id: int) -> Response:
    library, kept = get_library(), albums()
    ids = member_ids(library, kept, kept.get(album_id), viewers_see_places=viewers_see_places())
    records = library.images(ids)
    shown = [visible_record(records[i], visibility()) for i in ids if i in records]
    return Response(
        album_to_csv(shown),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="album-{album_id}.csv"'},
    )


def _image_ids(library: Library, params: AlbumChange) -> list[int]:
    ids = list(params.image_ids)
    if params.search is not None:
        query = require_query(_all_results(params))
        page = run_query(library, query)
        ids += [hit.id for hit in (page.hits if page else [])]
    return ids


def _all_results(params: AlbumChange) -> SearchQuery | None:
    assert params.search is not None
    search = params.search
    if search.q is None and search.image_id is None and not search.terms:
        return None
    return SearchQuery(params=search, k=MAX_RESULTS)
