"""Near-duplicates as decisions: each group ordered best copy first (most pixels, then the
largest file, then the oldest), with what differs between the copies, and the others as a list
to export. Nothing here touches a user's file."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from pixsift.web.api import duplicates_json
from pixsift.web.auth import principal
from pixsift.web.browse_api import kept_apart_data
from pixsift.web.parsing import read_args
from pixsift.web.schemas import DuplicatesParams
from pixsift.web.state import get_library

bp = Blueprint("duplicates_view", __name__)


def best_first(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The copy to keep first: most pixels, then largest file, then oldest (taken, else file
    time)."""

    def rank(image: dict[str, Any]) -> tuple[int, int, float]:
        taken = image.get("taken_at")
        when = str(taken) if taken else f"~{image.get('mtime_ns', 0):020d}"
        return (-image["width"] * image["height"], -image["size_bytes"], when)  # type: ignore[return-value]

    return sorted(images, key=rank)


def decided_groups(data: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [best_first(group["images"]) for group in data["groups"]]


@bp.get("/duplicates")
def duplicates() -> str:
    params = read_args(DuplicatesParams, request.args, skip_empty=True)
    data = duplicates_json(get_library(), params)
    # Editors see their "not duplicates" decisions, to undo them (viewers may not list them).
    kept = kept_apart_data(get_library())["groups"] if principal().is_admin else []
    return render_template("duplicates.html", data=data, groups=decided_groups(data), kept=kept)


@bp.get("/duplicates/others.txt")
def others() -> Response:
    """The copies that are not the best of their group, one per line (the path a viewer may
    see, else the name): a list to review or to feed to another tool. Nothing is deleted."""
    params = read_args(DuplicatesParams, request.args, skip_empty=True)
    lines = [
        str(image.get("path") or image["name"])
        for group in decided_groups(duplicates_json(get_library(), params))
        for image in group[1:]
    ]
    response = Response("\n".join(lines) + ("\n" if lines else ""), mimetype="text/plain")
    response.headers["Content-Disposition"] = 'attachment; filename="duplicate-copies.txt"'
    return response
