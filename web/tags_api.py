"""Tags in the JSON API: the library's tags with their counts, one image's tags, and the user's
edits (``POST`` adds, ``DELETE`` takes away; removed automatic tags stay removed; admins only
once accounts are in use: viewers read tags). Declared as
:class:`Operation`s like the rest of the API, so the OpenAPI document shows them."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from pixsift.search.errors import PermissionDeniedError
from pixsift.search.tags.contract import TagNames
from pixsift.search.tags.service import ImageTagList, LibraryTags
from pixsift.web.auth import auth_required, principal
from pixsift.web.parsing import Operation, operation
from pixsift.web.schemas import ImageTags, TagCounts, dump
from pixsift.web.state import get_library

bp = Blueprint("tags_api", __name__, url_prefix="/api")


@bp.get("/tags")
@operation(Operation("Every tag in the library, with how many images carry it",
                     responses={200: TagCounts}))  # fmt: skip
def tag_counts() -> Response:
    counts = LibraryTags(get_library()).counts()
    return jsonify(dump(TagCounts(tags=[vars(count) for count in counts])))


@bp.get("/images/<int:image_id>/tags")
@operation(Operation("An image's tags", responses={200: ImageTags}))
def image_tags(image_id: int) -> Response:
    return _answer(LibraryTags(get_library()).of_image(image_id))


@bp.post("/images/<int:image_id>/tags")
@operation(
    Operation(
        "Add tags to an image by hand (admins only)", body=TagNames, responses={200: ImageTags}
    )
)
def add_tags(params: TagNames, image_id: int) -> Response:
    require_tag_editor()
    return _answer(LibraryTags(get_library()).add(image_id, params))


@bp.delete("/images/<int:image_id>/tags")
@operation(
    Operation(
        "Take tags away from an image; re-tagging will not bring them back (admins only)",
        query=TagNames,
        responses={200: ImageTags},
    )
)
def remove_tags(params: TagNames, image_id: int) -> Response:
    require_tag_editor()
    return _answer(LibraryTags(get_library()).remove(image_id, params))


def _answer(listed: ImageTagList) -> Response:
    tags = [{"tag": tag, "source": source} for tag, source in listed.tags]
    return jsonify(dump(ImageTags(image_id=listed.image_id, tags=tags)))


def require_tag_editor() -> None:
    """Tags are the library's: without accounts the local user edits them; with accounts, admins
    do and viewers read them."""
    if auth_required() and not principal().is_admin:
        raise PermissionDeniedError(f"{principal().name} is a viewer: editing tags needs an admin")
