"""Browsing a library by folder: its roots, a folder's subfolders (each with a cover picture) and
the pictures directly in it, by name.

One function, :func:`folder_listing`, builds a folder's page; the JSON API and the page only
render it. A folder is a range of relative paths in the ``(root_id, relative_path)`` index
(``ix_images_folder``, migration 0014; compared byte-wise: ``COLLATE "C"`` on PostgreSQL, whose
default collation orders paths by other rules). Subfolders are found by skipping through that
index, one seek per subfolder (a loose index scan), and pictures are paged by keyset: nothing
reads every row of a large library.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import Session

from pixsift.search.browse import BrowsePage, browse_conditions
from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.records import ImageRecord
from pixsift.search.storage.models import Image, Root
from pixsift.search.storage.store import LibraryStore

#: Subfolders listed per folder (one index seek each); more are reported as cut off.
MAX_SUBFOLDERS = 500
#: Subfolders jumped over while reading a folder's own pictures, before the rest is read with
#: the subfolders left out in SQL (a scan of the folder's range of the index).
MAX_JUMPS = 64
#: The character after "/" in byte order: "a/" + anything < "a0".
AFTER_SLASH = "0"


@dataclass(frozen=True)
class FolderEntry:
    """A subfolder (or a root, at the top): its name, its path relative to the root ("" for a
    root), and the first picture in it by path, as its cover."""

    root_id: int
    name: str
    path: str
    cover: ImageRecord | None


@dataclass(frozen=True)
class FolderListing:
    """A folder: where it is, its subfolders, and a page of the pictures directly in it. At the
    top (no root), ``folders`` are the library's roots and there are no pictures."""

    root_id: int | None
    root_path: str | None
    path: str
    folders: list[FolderEntry]
    folders_cut_off: bool
    page: BrowsePage


def normalise_folder(path: str) -> str:
    """A folder path as the index stores it: no leading or trailing slash, no empty part."""
    stripped = path.strip("/")
    if any(part in ("", ".", "..") for part in stripped.split("/")) and stripped:
        raise InvalidInputError(f"not a folder path: {path[:100]!r}")
    return stripped


def folder_listing(
    store: LibraryStore,
    root_id: int | None,
    path: str = "",
    k: int = 60,
    after: tuple[str, int] | None = None,
) -> FolderListing:
    """The folder ``path`` of root ``root_id`` (the roots, when ``root_id`` is None): its
    subfolders (the first page only) and ``k`` pictures after ``after`` (a name and an id)."""
    if root_id is None:
        return _top(store)
    path = normalise_folder(path)
    with store.session() as session:
        root = session.get(Root, root_id)
        if root is None:
            raise NotFoundError(f"no indexed folder has root id {root_id}")
        column = _path_column(session)
        subfolders, cut_off = ([], False) if after else _subfolders(session, root_id, path, column)
        ids = _pictures(session, root_id, path, column, k, after)
        root_path = root.path
    if path and after is None and not subfolders and not ids:
        raise NotFoundError(f"no indexed pictures in the folder {path[:200]}")
    shown = [image_id for image_id, _ in ids[:k]]
    records = store.images_by_ids(shown + [cover for _, cover in subfolders])
    prefix = f"{path}/" if path else ""
    folders = [
        FolderEntry(root_id, name, prefix + name, records.get(cover)) for name, cover in subfolders
    ]
    last = ids[k - 1] if len(ids) > k else None
    page = BrowsePage(
        [records[i] for i in shown if i in records], None if last is None else (last[1], last[0])
    )
    return FolderListing(root_id, root_path, path, folders, cut_off, page)


def _top(store: LibraryStore) -> FolderListing:
    with store.session() as session:
        roots = session.execute(select(Root.id, Root.path).order_by(Root.path)).all()
        column = _path_column(session)
        covers = {
            root_id: session.scalar(
                select(Image.id)
                .where(Image.root_id == root_id, *browse_conditions())
                .order_by(column, Image.id)
                .limit(1)
            )
            for root_id, _ in roots
        }
    records = store.images_by_ids([i for i in covers.values() if i is not None])
    folders = [
        FolderEntry(root_id, path, "", records.get(covers[root_id] or 0)) for root_id, path in roots
    ]
    return FolderListing(None, None, "", folders, False, BrowsePage([], None))


def _path_column(session: Session) -> ColumnElement[str]:
    """The relative path compared byte-wise (as the folder index orders it)."""
    if session.get_bind().dialect.name == "postgresql":
        return Image.relative_path.collate("C")
    return Image.relative_path


def _range(column: ColumnElement[str], prefix: str) -> list[ColumnElement[bool]]:
    if not prefix:
        return []
    return [column > prefix, column < prefix[:-1] + AFTER_SLASH]


def _subfolders(
    session: Session, root_id: int, path: str, column: ColumnElement[str]
) -> tuple[list[tuple[str, int]], bool]:
    """The subfolders of ``path`` in name order with their covers' ids, each found by one index
    seek past the one before (a loose index scan); and whether the list was cut off."""
    prefix = f"{path}/" if path else ""
    deeper = column.like(_like_prefix(prefix) + "%/%", escape="\\")
    found: list[tuple[str, int]] = []
    start = prefix
    while len(found) <= MAX_SUBFOLDERS:
        statement = (
            select(Image.id, Image.relative_path)
            .where(Image.root_id == root_id, *_range(column, prefix), column >= start, deeper)
            .where(*browse_conditions())
            .order_by(column, Image.id)
            .limit(1)
        )
        row = session.execute(statement).first()
        if row is None:
            break
        name = row.relative_path[len(prefix) :].split("/", 1)[0]
        found.append((name, int(row.id)))
        start = prefix + name + AFTER_SLASH
    return found[:MAX_SUBFOLDERS], len(found) > MAX_SUBFOLDERS


def _pictures(
    session: Session,
    root_id: int,
    path: str,
    column: ColumnElement[str],
    k: int,
    after: tuple[str, int] | None,
) -> list[tuple[int, str]]:
    """Up to ``k + 1`` (id, relative path) of the pictures directly in ``path``, by name. The
    folder's range of the index is read in order, jumping over each subfolder met (one seek);
    past :data:`MAX_JUMPS` subfolders the rest is read with the subfolders left out in SQL."""
    prefix = f"{path}/" if path else ""
    shown = [Image.root_id == root_id, *_range(column, prefix), *browse_conditions()]
    found: list[tuple[int, str]] = []
    position = after
    for _ in range(MAX_JUMPS):
        wanted = k + 1 - len(found)
        rows = session.execute(_after(shown, column, position).limit(wanted)).all()
        for image_id, relative_path in rows:
            rest = relative_path[len(prefix) :]
            if "/" in rest:  # the first picture of a subfolder: go on after the subfolder
                position = (prefix + rest.split("/", 1)[0] + AFTER_SLASH, 0)
                break
            found.append((int(image_id), relative_path))
            position = (relative_path, int(image_id))
        else:
            return found  # the folder's end, or a full page
    direct = ~column.like(_like_prefix(prefix) + "%/%", escape="\\")
    rows = session.execute(_after([*shown, direct], column, position).limit(k + 1 - len(found)))
    return found + [(int(image_id), str(relative_path)) for image_id, relative_path in rows]


def _after(
    conditions: list[ColumnElement[bool]],
    column: ColumnElement[str],
    position: tuple[str, int] | None,
) -> Select[tuple[int, str]]:
    if position is not None:
        conditions = [*conditions, tuple_(column, Image.id) > tuple_(position[0], position[1])]
    return select(Image.id, Image.relative_path).where(*conditions).order_by(column, Image.id)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
