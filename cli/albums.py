"""``pixsift albums ...``: albums and smart albums from the command line.

The command line acts as the library's admin (it opens the database directly): it sees every
album. ``--owner NAME`` creates an album for a user of the server. An album is named by id or by
its exact name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click

from pixsift.cli.options import library_options, model_field_options, open_library, reports_errors
from pixsift.search.accounts import LOCAL_PRINCIPAL, Principal, check_name
from pixsift.search.album_export import album_to_csv, album_to_json
from pixsift.search.album_members import album_page, member_ids
from pixsift.search.albums import AlbumRecord, Albums
from pixsift.search.errors import InvalidInputError
from pixsift.search.filenames import terminal_text
from pixsift.search.library import Library
from pixsift.search.query.request import (
    MAX_RESULTS,
    SEARCH_MODES,
    QueryTerm,
    SavedSearch,
    SearchFilters,
    SearchRequest,
    TermSpec,
)
from pixsift.web.settings import HIDE_GPS_FROM_VIEWERS

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _albums(library: Library) -> Albums:
    return Albums(library.store, LOCAL_PRINCIPAL)


def _viewers_see_places() -> bool:
    """The server's setting, read as the server reads it: a viewer's smart album runs with the
    viewer's rights (search.album_makers) whoever opens it, the command line too."""
    return not int(HIDE_GPS_FROM_VIEWERS.value() or 0)


def _filters(values: dict[str, Any]) -> SearchFilters:
    return SearchFilters.parse({k: v for k, v in values.items() if v not in (None, ())})


def _describe(album: AlbumRecord) -> str:
    kind = "smart" if album.kind == "smart" else f"{album.item_count} pictures"
    return f"#{album.id}  {terminal_text(album.name)}  ({kind}; owner {album.owner})"


@click.group("albums")
def albums() -> None:
    """Albums and smart albums: create, add, remove, list, show, export, rename, delete."""


@albums.command("create")
@click.argument("name")
@click.option("--owner", help="A server user who owns it (default: local, the admin's).")
@click.option("--smart", "smart_text", help="Make a smart album of this search text.")
@click.option("--smart-filters", is_flag=True, help="A smart album of the filters alone.")
@click.option("--mode", type=click.Choice(SEARCH_MODES), default="hybrid", show_default=True)
@click.option("--min-score", type=click.FloatRange(-1, 1), help="The smart search's cutoff.")
@model_field_options(SearchFilters)
@json_option
@library_options
@reports_errors
def create(
    name: str,
    owner: str | None,
    smart_text: str | None,
    smart_filters: bool,
    mode: str,
    min_score: float | None,
    as_json: bool,
    library: Path | None,
    database_url: str | None,
    **filter_values: Any,
) -> None:
    """Create the album NAME (with --smart TEXT or --smart-filters: a smart album)."""
    filters = _filters(filter_values)
    search = None
    if smart_text is not None or smart_filters:
        terms = (TermSpec(text=smart_text),) if smart_text is not None else ()
        search = SavedSearch.parse(
            {"terms": terms, "filters": filters, "mode": mode, "min_score": min_score}
        )
    elif not filters.is_empty():
        raise InvalidInputError("filters make a smart album: add --smart TEXT or --smart-filters")
    caller = LOCAL_PRINCIPAL
    if owner is not None:
        caller = Principal(kind="user", name=check_name(owner), role="viewer")
    with open_library(library, database_url) as opened:
        album = Albums(opened.store, caller).create(name, search)
    click.echo(album.model_dump_json(indent=2) if as_json else _describe(album))


@albums.command("list")
@json_option
@library_options
@reports_errors
def list_albums(as_json: bool, library: Path | None, database_url: str | None) -> None:
    """Every album and smart album."""
    with open_library(library, database_url) as opened:
        found = _albums(opened).list()
    if as_json:
        click.echo(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
        return
    for album in found:
        click.echo(_describe(album))
    if not found:
        click.echo("(none)")


@albums.command("add")
@click.argument("album_ref", metavar="ALBUM")
@click.argument("image_ids", nargs=-1, type=click.IntRange(1))
@click.option("--search", "search_text", help="Also add every result (first 1000) of this search.")
@model_field_options(SearchFilters)
@library_options
@reports_errors
def add(
    album_ref: str,
    image_ids: tuple[int, ...],
    search_text: str | None,
    library: Path | None,
    database_url: str | None,
    **filter_values: Any,
) -> None:
    """Add pictures by id (a smart album pins them), or all results of --search TEXT."""
    with open_library(library, database_url) as opened:
        ids = list(image_ids)
        if search_text is not None:
            request = SearchRequest(
                (QueryTerm(text=search_text),), filters=_filters(filter_values), k=MAX_RESULTS
            )
            ids += [hit.id for hit in opened.find(request).hits]
        kept = _albums(opened)
        target = kept.find(album_ref)
        changed = kept.add(target.id, ids)
    click.echo(f"added {changed} to #{target.id}")


@albums.command("remove")
@click.argument("album")
@click.argument("image_ids", nargs=-1, type=click.IntRange(1), required=True)
@library_options
@reports_errors
def remove(
    album: str, image_ids: tuple[int, ...], library: Path | None, database_url: str | None
) -> None:
    """Take pictures out (a smart album excludes them). Files are never touched."""
    with open_library(library, database_url) as opened:
        kept = _albums(opened)
        target = kept.find(album)
        changed = kept.remove(target.id, list(image_ids))
    click.echo(f"removed {changed} from #{target.id}")


@albums.command("show")
@click.argument("album")
@click.option("--offset", default=0, type=click.IntRange(0), show_default=True)
@click.option("--limit", default=100, type=click.IntRange(1, 10_000), show_default=True)
@json_option
@library_options
@reports_errors
def show(
    album: str,
    offset: int,
    limit: int,
    as_json: bool,
    library: Path | None,
    database_url: str | None,
) -> None:
    """An album's pictures, in order (a smart album's: what its search returns now)."""
    with open_library(library, database_url) as opened:
        kept = _albums(opened)
        page = album_page(
            opened,
            kept,
            kept.find(album).id,
            offset,
            limit,
            viewers_see_places=_viewers_see_places(),
        )
    if as_json:
        click.echo(album_to_json(page.images))
        return
    click.echo(f"{_describe(page.album)}: {page.total} members")
    for record in page.images:
        click.echo(f"  #{record.id}  {terminal_text(record.absolute_path)}")


@albums.command("export")
@click.argument("album")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on standard output (the default).")
@click.option("--json", "as_json", is_flag=True, help="JSON on standard output.")
@click.option(
    "--to",
    "destination",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the album's files into this folder instead (never moves or changes them).",
)
@library_options
@reports_errors
def export(
    album: str,
    as_csv: bool,
    as_json: bool,
    destination: Path | None,
    library: Path | None,
    database_url: str | None,
) -> None:
    """Every member of an album, in order: as CSV/JSON, or copies of the files (--to DIR)."""
    with open_library(library, database_url) as opened:
        kept = _albums(opened)
        ids = member_ids(opened, kept, kept.find(album), viewers_see_places=_viewers_see_places())
        records = opened.images(ids)
    ordered = [records[i] for i in ids if i in records]
    if destination is not None:
        _copy_files(ordered, destination)
    elif as_json:
        click.echo(album_to_json(ordered))
    else:
        click.echo(album_to_csv(ordered), nl=False)


def _copy_files(records: list[Any], destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for position, record in enumerate(records, 1):
        if record.offset_s is not None:
            continue  # a video's moment is not a file of its own
        target = destination / f"{position:05d}-{record.file_path.name}"
        shutil.copy2(record.file_path, target)
    click.echo(f"copied {len(records)} files to {destination}")


@albums.command("rename")
@click.argument("album")
@click.argument("name")
@library_options
@reports_errors
def rename(album: str, name: str, library: Path | None, database_url: str | None) -> None:
    """Give an album a new name."""
    with open_library(library, database_url) as opened:
        kept = _albums(opened)
        click.echo(_describe(kept.rename(kept.find(album).id, name)))


@albums.command("delete")
@click.argument("album")
@library_options
@reports_errors
def delete(album: str, library: Path | None, database_url: str | None) -> None:
    """Forget an album and its share links; its pictures' files are never touched."""
    with open_library(library, database_url) as opened:
        kept = _albums(opened)
        target = kept.find(album)
        kept.delete(target.id)
    click.echo(f"deleted album #{target.id} (no file was touched)")


@albums.command("share")
@click.argument("album", required=False)
@click.option("--image", "image_id", type=click.IntRange(1), help="Share one picture instead.")
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Stop working after N days.")
@click.option("--password-stdin", is_flag=True, help="Read a password from standard input.")
@click.option("--allow-originals", is_flag=True, help="Also give the original files.")
@library_options
@reports_errors
def share(
    album: str | None,
    image_id: int | None,
    expires_days: int | None,
    password_stdin: bool,
    allow_originals: bool,
    library: Path | None,
    database_url: str | None,
) -> None:
    """Make a read-only link to ALBUM (or --image ID); prints its token once, then its path."""
    from pixsift.cli.accounts import read_password
    from pixsift.search.shares import ShareRequest, Shares

    password = read_password(True) if password_stdin else None
    with open_library(library, database_url) as opened:
        album_id = None if album is None else _albums(opened).find(album).id
        made = Shares(opened.store, LOCAL_PRINCIPAL).create(
            ShareRequest.parse(
                {
                    "album_id": album_id,
                    "image_id": image_id,
                    "expires_in_days": expires_days,
                    "password": password,
                    "allow_originals": allow_originals,
                }
            )
        )
    click.echo(made.token)
    click.echo(f"link #{made.share.id}: open /s/{made.token} on the server", err=True)


@albums.command("shares")
@json_option
@library_options
@reports_errors
def shares(as_json: bool, library: Path | None, database_url: str | None) -> None:
    """Every share link: what it names, whether it works, how often it was used."""
    from pixsift.search.shares import Shares

    with open_library(library, database_url) as opened:
        found = Shares(opened.store, LOCAL_PRINCIPAL).list()
    if as_json:
        click.echo(json.dumps([s.model_dump(mode="json") for s in found], indent=2))
        return
    for link in found:
        target = f"album #{link.album_id}" if link.album_id else f"image #{link.image_id}"
        state = "active" if link.active else "revoked" if link.revoked_at else "expired"
        click.echo(f"#{link.id}  {link.prefix}…  {target}  {state}  used {link.use_count}x")
    if not found:
        click.echo("(none)")


@albums.command("unshare")
@click.argument("share_id", type=click.IntRange(1))
@library_options
@reports_errors
def unshare(share_id: int, library: Path | None, database_url: str | None) -> None:
    """Revoke a share link: it stops working at once."""
    from pixsift.search.shares import Shares

    with open_library(library, database_url) as opened:
        Shares(opened.store, LOCAL_PRINCIPAL).revoke(share_id)
    click.echo(f"revoked link #{share_id}")
