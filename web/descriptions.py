"""Editing a picture's description: ``PUT`` / ``DELETE /api/images/<id>/description`` in the
JSON API and the image page's form. Editors only (the local user without accounts; admins
with them: viewers read descriptions); what is written is hand-written and no captioner run
replaces it (:mod:`search.description_edits`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request, url_for

from pixsift.search.description_edits import DescriptionText, ImageCaption, LibraryDescriptions
from pixsift.search.errors import PermissionDeniedError
from pixsift.web.auth import auth_required, principal
from pixsift.web.parsing import Operation, operation
from pixsift.web.schemas import dump
from pixsift.web.state import get_library

bp = Blueprint("descriptions", __name__)


@bp.get("/api/images/<int:image_id>/description")
@operation(Operation("An image's description", responses={200: ImageCaption}))
def description(image_id: int) -> Response:
    return jsonify(dump(LibraryDescriptions(get_library()).of_image(image_id)))


@bp.put("/api/images/<int:image_id>/description")
@operation(
    Operation(
        "Write an image's description by hand; no captioner replaces it (admins only)",
        body=DescriptionText,
        responses={200: ImageCaption},
    )
)
def write_description(params: DescriptionText, image_id: int) -> Response:
    require_description_editor()
    return jsonify(dump(LibraryDescriptions(get_library()).write(image_id, params)))


@bp.delete("/api/images/<int:image_id>/description")
@operation(
    Operation(
        "Clear an image's description; no captioner describes it again (admins only)",
        responses={200: ImageCaption},
    )
)
def clear_description(image_id: int) -> Response:
    require_description_editor()
    return jsonify(dump(LibraryDescriptions(get_library()).clear(image_id)))


@bp.post("/images/<int:image_id>/description")
def edit_description_form(image_id: int) -> Response:
    """The image page's form: "Save" writes the text, "Clear" (or an empty text) clears it."""
    require_description_editor()
    descriptions = LibraryDescriptions(get_library())
    text = request.form.get("text", "")
    if request.form.get("action") == "clear" or not text.strip():
        descriptions.clear(image_id)
    else:
        descriptions.write(image_id, DescriptionText.parse({"text": text}))
    return redirect(url_for("pages.image_page", image_id=image_id) + "#description", code=303)


def require_description_editor() -> None:
    """Descriptions are the library's: without accounts the local user edits them; with
    accounts, admins do and viewers read them."""
    if auth_required() and not principal().is_admin:
        raise PermissionDeniedError(
            f"{principal().name} is a viewer: editing descriptions needs an admin"
        )
