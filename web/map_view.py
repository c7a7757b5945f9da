"""The map of places: the pictures with a GPS position as points (Leaflet, vendored in
web/static/vendor, so the page asks nothing of the internet). By default there are no tiles: the
points lie on a plain background. ``PIXSIFT_MAP_TILES`` names a tile server (a URL template) for
servers that have one; the page's Content-Security-Policy then allows that origin for images,
and only that one. Shown only to those who may see GPS positions."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, make_response, render_template

from pixsift.search.errors import PermissionDeniedError
from pixsift.search.place_map import map_points
from pixsift.web.auth import visibility
from pixsift.web.policy import CONTENT_SECURITY_POLICY
from pixsift.web.schemas import dump
from pixsift.web.state import get_library

bp = Blueprint("map_view", __name__)


def _require_gps() -> None:
    if not visibility().gps:
        raise PermissionDeniedError("GPS positions are hidden from viewers on this server")


def tiles_template() -> str:
    return str(current_app.config.get("MAP_TILES") or "").strip()


@bp.get("/map")
def map_page() -> Response:
    _require_gps()
    tiles = tiles_template()
    response = make_response(render_template("map.html", tiles=tiles))
    origin = _origin(tiles)
    if origin:
        policy = CONTENT_SECURITY_POLICY.replace("img-src 'self'", f"img-src 'self' {origin}")
        response.headers["Content-Security-Policy"] = policy
    return response


@bp.get("/map/points.json")
def points() -> dict[str, object]:
    _require_gps()
    return dump(map_points(get_library().store))


def _origin(template: str) -> str:
    """The scheme and host of a tile URL template ('' for none or a path on this server)."""
    parts = urlsplit(template)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
