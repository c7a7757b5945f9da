"""Browsing and the user's decisions in the JSON API: the timeline, folders, the hidden pictures,
"hide from results" and "not duplicates". The data of each listing is built here once, from the
library's own functions (search.browse, search.folders, search.decisions); the API answers it as
JSON and the pages (web.browse_pages) render the same data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, url_for

from pixsift.search.albums import Albums
from pixsift.search.browse import (
    decode_position,
    encode_position,
    month_end,
    timeline,
    timeline_position,
)
from pixsift.search.decisions import (
    Decisions,
    HiddenChange,
    NotDuplicatesChange,
    NotDuplicatesRequest,
)
from pixsift.search.folders import FolderListing, folder_listing
from pixsift.search.library import Library
from pixsift.search.records import ImageRecord
from pixsift.search.visibility import root_label
from pixsift.web.auth import principal, visibility
from pixsift.web.browse_schemas import (
    BrowseItem,
    Crumb,
    FolderOut,
    FolderPageOut,
    FolderParams,
    HiddenOut,
    KeptApartGroup,
    KeptApartOut,
    PageParams,
    TimelineOut,
    TimelineParams,
)
from pixsift.web.parsing import Operation, operation
from pixsift.web.results import image_out
from pixsift.web.schemas import dump
from pixsift.web.state import get_library

bp = Blueprint("browse_api", __name__, url_prefix="/api")


@bp.get("/timeline")
@operation(
    Operation(
        "The library newest first (no query)", query=TimelineParams, responses={200: TimelineOut}
    )
)
def timeline_view(params: TimelineParams) -> Response:
    return jsonify(timeline_data(get_library(), params))


@bp.get("/folders")
@operation(
    Operation(
        "A folder: its subfolders and the pictures in it",
        query=FolderParams,
        responses={200: FolderPageOut},
    )
)
def folders(params: FolderParams) -> Response:
    return jsonify(folder_data(get_library(), params))


@bp.get("/hidden")
@operation(
    Operation("The pictures hidden from results", query=PageParams, responses={200: HiddenOut})
)
def hidden(params: PageParams) -> Response:
    return jsonify(hidden_data(get_library(), params))


@bp.post("/images/<int:image_id>/hidden")
@operation(
    Operation(
        "Hide a picture from results, the timeline, folders and duplicates "
        "(admins only; the file is not touched)",
        responses={200: HiddenChange},
    )
)
def hide(image_id: int) -> Response:
    return jsonify(dump(Decisions(get_library().store, principal()).hide(image_id)))


@bp.delete("/images/<int:image_id>/hidden")
@operation(Operation("Show a hidden picture again (admins only)", responses={200: HiddenChange}))
def unhide(image_id: int) -> Response:
    return jsonify(dump(Decisions(get_library().store, principal()).unhide(image_id)))


@bp.post("/duplicates/not-duplicates")
@operation(
    Operation(
        "Say pictures are not duplicates: no two of them are grouped again (admins only)",
        body=NotDuplicatesRequest,
        responses={200: NotDuplicatesChange},
    )
)
def not_duplicates(params: NotDuplicatesRequest) -> Response:
    decisions = Decisions(get_library().store, principal())
    return jsonify(dump(decisions.mark_not_duplicates(params)))


@bp.delete("/duplicates/not-duplicates")
@operation(
    Operation(
        'Undo a "not duplicates" decision (admins only)',
        query=NotDuplicatesRequest,
        responses={200: NotDuplicatesChange},
    )
)
def undo_not_duplicates(params: NotDuplicatesRequest) -> Response:
    decisions = Decisions(get_library().store, principal())
    return jsonify(dump(decisions.unmark_not_duplicates(params)))


@bp.get("/duplicates/not-duplicates")
@operation(
    Operation(
        'The pictures said to be "not duplicates", newest decision first (admins only)',
        responses={200: KeptApartOut},
    )
)
def kept_apart() -> Response:
    return jsonify(kept_apart_data(get_library()))


# The data, for the API and the pages ---------------------------------------------------------


def page_size(k: int | None) -> int:
    return k or int(current_app.config["PAGE_SIZE"])


def browse_item(record: ImageRecord) -> BrowseItem:
    date, source = record.date_with_source()
    item = {**image_out(record).model_dump(), "date": date, "date_source": source}
    return BrowseItem.model_validate(item)


def timeline_data(library: Library, params: TimelineParams) -> dict[str, Any]:
    filters = params.filters()
    if filters.album is not None:
        Albums(library.store, principal()).get(filters.album)  # one the caller may see, else 404
    after = timeline_position(params.cursor) if params.cursor else None
    if after is None and params.start is not None:
        after = month_end(params.start)
    k = page_size(params.k)
    page = timeline(library.store, filters, k, after)
    cursor = None
    if page.next_position is not None:
        cursor = encode_position("timeline", page.next_position)
    options = {**filters.model_dump(mode="json", exclude_defaults=True), "k": params.k}
    answer = TimelineOut(
        results=[browse_item(record) for record in page.images],
        next_cursor=cursor,
        next=url_for("browse_api.timeline_view", **options, cursor=cursor) if cursor else None,
    )
    return dump(answer)


def folder_data(library: Library, params: FolderParams) -> dict[str, Any]:
    after = None
    if params.cursor:
        name, image_id = decode_position("folder", params.cursor, (str, int))
        after = (str(name), int(image_id))  # type: ignore[call-overload]
    k = page_size(params.k)
    listing = folder_listing(library.store, params.root, params.path, k, after)
    cursor = None
    if listing.page.next_position is not None:
        cursor = encode_position("folder", listing.page.next_position)
    next_url = None
    if cursor:
        next_url = url_for(
            "browse_api.folders",
            root=params.root,
            path=listing.path or None,
            k=params.k,
            cursor=cursor,
        )
    answer = FolderPageOut(
        root=listing.root_id,
        root_name=_root_name(listing.root_path),
        path=listing.path,
        breadcrumbs=_crumbs(listing),
        folders=[_folder_out(listing, entry) for entry in listing.folders],
        folders_cut_off=listing.folders_cut_off,
        results=[browse_item(record) for record in listing.page.images],
        next_cursor=cursor,
        next=next_url,
    )
    return dump(answer)


def hidden_data(library: Library, params: PageParams) -> dict[str, Any]:
    after = None
    if params.cursor:
        (after,) = decode_position("hidden", params.cursor, (int,))
    decisions = Decisions(library.store, principal())
    images, following = decisions.hidden(page_size(params.k), after)
    cursor = None if following is None else encode_position("hidden", (following,))
    answer = HiddenOut(
        results=[browse_item(record) for record in images],
        next_cursor=cursor,
        next=url_for("browse_api.hidden", k=params.k, cursor=cursor) if cursor else None,
    )
    return dump(answer)


def kept_apart_data(library: Library) -> dict[str, Any]:
    decided = Decisions(library.store, principal()).kept_apart()
    records = library.images(sorted({i for group in decided for i in group.image_ids}))
    groups = [
        KeptApartGroup(
            images=[browse_item(records[i]) for i in group.image_ids if i in records],
            decided_by=group.decided_by,
            decided_at=group.decided_at,
        )
        for group in decided
    ]
    return dump(KeptApartOut(groups=groups))


def _root_name(root_path: str | None) -> str | None:
    if root_path is None:
        return None
    return root_path if visibility().server_paths else root_label(root_path)


def _folder_url(root_id: int | None, path: str = "") -> str:
    if root_id is None:
        return url_for("browse_pages.folders")
    return url_for("browse_pages.folder", root_id=root_id, path=path)


def _crumbs(listing: FolderListing) -> list[Crumb]:
    crumbs = [Crumb(name="All folders", page_url=_folder_url(None))]
    if listing.root_id is None:
        return crumbs
    crumbs.append(
        Crumb(name=_root_name(listing.root_path) or "", page_url=_folder_url(listing.root_id))
    )
    parts = listing.path.split("/") if listing.path else []
    for depth, part in enumerate(parts, start=1):
        crumbs.append(
            Crumb(name=part, page_url=_folder_url(listing.root_id, "/".join(parts[:depth])))
        )
    return crumbs


def _folder_out(listing: FolderListing, entry: Any) -> FolderOut:
    name = entry.name if listing.root_id is not None else (_root_name(entry.name) or entry.name)
    return FolderOut(
        name=name,
        root=entry.root_id,
        path=entry.path,
        page_url=_folder_url(entry.root_id, entry.path),
        api_url=url_for("browse_api.folders", root=entry.root_id, path=entry.path or None),
        cover=browse_item(entry.cover) if entry.cover is not None else None,
    )


__all__ = ["bp", "folder_data", "hidden_data", "kept_apart_data", "timeline_data"]
