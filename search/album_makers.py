"""Whose rights a smart album's search runs with: its maker's, as they are now.

A smart album is a saved search that runs again whenever it is opened (the page, the API, the
CLI, a share link), by whoever opens it. Run with the opener's rights, an album made by a caller
who may not see where pictures were taken would read place names out of its text ("a beach in
Lisbon") and its members would tell the maker what the search itself refuses them. So the search
runs with the location permission of the album's maker, read from the maker's role at open time
(never a stored copy: a promotion or a demotion counts at once). What the opener then sees of
each member is the opener's own business (search.visibility strips GPS and places as usual).
"""

from __future__ import annotations

from sqlalchemy import or_, select

from pixsift.search.account_records import utc_now
from pixsift.search.albums import AlbumRecord
from pixsift.search.errors import PermissionDeniedError
from pixsift.search.storage.accounts import ApiKey, User
from pixsift.search.storage.store import LibraryStore


def maker_sees_places(store: LibraryStore, owner: str, *, viewers_see_places: bool) -> bool:
    """Whether the album owner ``owner`` (``local``, ``user:NAME`` or ``key:NAME``) may now see
    where pictures were taken: the desktop/CLI and admins may; a viewer may only where the
    server shows viewers GPS (``viewers_see_places``); a removed user, or a key name with no
    live key left, may not."""
    kind, _, name = owner.partition(":")
    if kind == "local" and not name:
        return True
    if kind == "user":
        statement = select(User.role).where(User.name == name)
    elif kind == "key":
        # Key names need not be unique: every live key of that name must have the right.
        now = utc_now()
        statement = select(ApiKey.role).where(
            ApiKey.name == name,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
    else:
        return False
    with store.engine.connect() as connection:
        roles = set(connection.scalars(statement))
    if not roles:
        return False
    return roles == {"admin"} or viewers_see_places


def refuse_maker_location(album: AlbumRecord) -> None:
    """PermissionDeniedError, naming the album, if its saved filters select by location (for
    an album whose maker may not, or may no longer, see where pictures were taken)."""
    assert album.search is not None
    if located := album.search.filters.location_filters():
        raise PermissionDeniedError(
            f"smart album {album.id} filters by location ({', '.join(located)}), which its "
            f"maker ({album.owner}) may not see: remove those filters or recreate it"
        )
