"""pixsift's web app: a search page and a JSON API over the search core (``pixsift serve``)."""

from __future__ import annotations

from pixsift.web.app import create_app

__all__ = ["create_app"]
