"""Nothing outside the library is ever indexed or served, whatever links are planted in it: a
real ``pixsift serve`` answers 404 in the JSON error shape for the link-outside, link-dir and
swap-after-index cases, originals and thumbnails alike."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from conftest import make_picture
from servers import running_server
from sqlalchemy import update

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.storage.models import Image

SECRET = b"PRIVATE-KEY-MATERIAL "


def _secret_file(path: Path, size: int, mtime_ns: int) -> Path:
    """A private file of exactly ``size`` bytes and the given modification time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((SECRET * (size // len(SECRET) + 1))[:size])
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def _index(library: Library, embedder: OpenClipEmbedder, root: Path, follow: bool = False) -> None:
    options = IndexingOptions(batch_size=8, workers=1, show_progress=False, follow_symlinks=follow)
    Indexer(library, embedder, options).index([root])


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    return plant(tmp_path)


def plant(base: Path) -> tuple[Path, Path]:
    """A library folder with real pictures and links planted in it, and a private folder."""
    root, private = base / "photos", base / "private"
    (root / "album").mkdir(parents=True)
    make_picture(1).save(root / "kept.jpg")
    make_picture(2).save(root / "victim.jpg")
    make_picture(3).save(root / "album" / "inside.jpg")
    make_picture(4).save(root / "legacy.jpg")
    (private / "folder").mkdir(parents=True)
    make_picture(10).save(private / "outside.jpg")
    make_picture(11).save(private / "folder" / "deep.jpg")
    os.symlink(private / "outside.jpg", root / "link-outside.jpg")  # file link out
    os.symlink(private / "folder", root / "link-dir")  # folder link out
    os.symlink(root / "kept.jpg", root / "again.jpg")  # a link inside: the same file twice
    os.symlink(root / "album", root / "album-again")  # a folder link inside
    return root, private


def test_links_out_of_the_roots_are_not_indexed_unless_asked(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder, planted: tuple[Path, Path]
) -> None:
    root, _private = planted
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        _index(library, tiny_embedder, root)
        names = sorted(r.relative_path for r in library.store.images_by_ids(range(1, 50)).values())
    # Each file once, by its own name; nothing through the links that leave the folder.
    assert names == ["album/inside.jpg", "kept.jpg", "legacy.jpg", "victim.jpg"]
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        # A row from before identities were recorded gets its identity on the next run.
        with library.store.session() as session:
            session.execute(update(Image).values(device=None, inode=None))
        _index(library, tiny_embedder, root)
        kept = next(
            r for r in library.store.images_by_ids([1, 2, 3, 4]).values() if r.name == "kept.jpg"
        )
    status = (root / "kept.jpg").stat()
    assert kept.origin.identity == (status.st_dev, status.st_ino)
    with Library.open(tmp_path / "followed", embedder=tiny_embedder) as library:
        _index(library, tiny_embedder, root, follow=True)
        names = sorted(r.relative_path for r in library.store.images_by_ids(range(1, 50)).values())
    assert "link-outside.jpg" in names and "link-dir/deep.jpg" in names
    assert names.count("kept.jpg") == 1 and "again.jpg" not in names


def test_server_serves_nothing_outside_the_roots(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder, planted: tuple[Path, Path]
) -> None:
    root, private = planted
    # A second folder, indexed following its links out (the user asked).
    followed_root, followed_private = plant(tmp_path / "followed")
    library_directory = tmp_path / "library"
    with Library.open(library_directory, embedder=tiny_embedder) as library:
        _index(library, tiny_embedder, root)
        records = {r.relative_path: r for r in library.store.images_by_ids(range(1, 50)).values()}
        _index(library, tiny_embedder, followed_root, follow=True)
        followed = {
            r.relative_path: r.id
            for r in library.store.images_by_ids(range(1, 99)).values()
            if r.root_path == str(followed_root)
        }
        # A row indexed before identities were recorded: checked by size, time and its root.
        with library.store.session() as session:
            session.execute(
                update(Image)
                .where(Image.id == records["legacy.jpg"].id)
                .values(device=None, inode=None)
            )
    # After indexing, files are swapped for links to private files of the same size and time,
    # and a folder for a link to a private folder holding a same-sized, same-timed file.
    for name in ("victim.jpg", "legacy.jpg"):
        status = (root / name).stat()
        target = _secret_file(private / f"{name}.txt", status.st_size, status.st_mtime_ns)
        (root / name).unlink()
        os.symlink(target, root / name)
    inside = (root / "album" / "inside.jpg").stat()
    _secret_file(private / "swapped" / "inside.jpg", inside.st_size, inside.st_mtime_ns)
    shutil.rmtree(root / "album")
    os.symlink(private / "swapped", root / "album")

    # In the followed folder, a followed link's target is replaced by a same-sized, same-timed file.
    # Swapped by rename, as tools replace files: written beside, then moved over it. (Deleting it
    # and writing a new file in its place may reuse its inode number, which the identity check,
    # (st_dev, st_ino) with size and time, cannot tell apart: see docs/security.md.)
    deep = followed_private / "folder" / "deep.jpg"
    deep_status = deep.stat()
    swapped = _secret_file(deep.with_name("deep.new"), deep_status.st_size, deep_status.st_mtime_ns)
    os.replace(swapped, deep)

    with running_server(library_directory) as server:
        for name in ("victim.jpg", "legacy.jpg", "album/inside.jpg"):
            for kind in ("original", "thumbnail"):
                status, content_type, body = _get(f"{server.base}/images/{records[name].id}/{kind}")
                assert (status, content_type) == (404, "application/json"), (name, kind, body)
                assert json.loads(body)["error"]["code"] == "not_found"
                assert SECRET not in body
        # The untouched picture is still served, original and thumbnail.
        kept = records["kept.jpg"].id
        status, _type, body = _get(f"{server.base}/images/{kept}/original")
        assert status == 200 and body == (root / "kept.jpg").read_bytes()
        status, content_type, _body = _get(f"{server.base}/images/{kept}/thumbnail")
        assert status == 200 and content_type.startswith("image/")

        # A followed link is served; a followed file that was swapped is not.
        status, _type, body = _get(f"{server.base}/images/{followed['link-outside.jpg']}/original")
        assert status == 200 and body == (followed_private / "outside.jpg").read_bytes()
        status, content_type, body = _get(
            f"{server.base}/images/{followed['link-dir/deep.jpg']}/original"
        )
        assert (status, content_type) == (404, "application/json") and SECRET not in body
