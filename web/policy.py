"""The Content-Security-Policy of every answer (web.app sets it; a page that needs more, such as
the map with a configured tile server, widens a copy of it)."""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
