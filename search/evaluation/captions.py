"""Captions files: which picture each caption describes.

Three forms are read, by the file's suffix:

- ``.jsonl``: one JSON object a line, ``{"path": ..., "caption": ...}`` (or ``"captions"``: a
  list of them);
- ``.csv``: two columns, path and caption, with an optional ``path,caption`` header;
- ``.json``: the Karpathy split used for COCO and Flickr30k, ``{"images": [{"filepath",
  "filename", "split", "sentences": [{"raw": ...}]}]}``; only the images of ``split`` are read
  ("all": every image).

A bad file is refused with one line that says where (file, line or image number) and what.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixsift.search.errors import InvalidInputError

CAPTION_SUFFIXES = (".jsonl", ".csv", ".json")
#: Karpathy's split names, and "all" for every image.
KARPATHY_SPLITS = ("test", "val", "train", "restval", "all")


@dataclass(frozen=True)
class Caption:
    #: The picture's path as the file gives it (absolute, or relative to the file's folder or to
    #: an indexed root).
    path: str
    text: str


def read_captions(path: Path, *, split: str = "test") -> list[Caption]:
    """The captions of ``path``; :class:`InvalidInputError` (one line) when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in CAPTION_SUFFIXES:
        raise InvalidInputError(
            f"{path}: a captions file is .jsonl, .csv or .json (Karpathy split), not {suffix!r}"
        )
    if split not in KARPATHY_SPLITS:
        raise InvalidInputError(f"unknown split {split!r}: use one of {', '.join(KARPATHY_SPLITS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"cannot read captions file {path}: {error}") from None
    readers = {".jsonl": _jsonl, ".csv": _csv, ".json": lambda t: _karpathy(t, split)}
    try:
        captions = list(readers[suffix](text))
    except _Problem as problem:
        raise InvalidInputError(f"{path}: {problem}") from None
    if not captions:
        raise InvalidInputError(f"{path}: no captions found")
    return captions


class _Problem(Exception):
    """What is wrong with a captions file, and where (made into one InvalidInputError)."""


def _caption(path: Any, text: Any, where: str) -> Caption:
    if not isinstance(path, str) or not path.strip():
        raise _Problem(f"{where}: the path is missing or not a text")
    if not isinstance(text, str) or not text.strip():
        raise _Problem(f"{where}: the caption is missing or empty")
    return Caption(path=path.strip(), text=" ".join(text.split()))


def _jsonl(text: str) -> Iterator[Caption]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise _Problem(f"line {number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise _Problem(f"line {number}: expected an object with path and caption")
        texts = row.get("captions", [row.get("caption")])
        if not isinstance(texts, list) or not texts:
            raise _Problem(f"line {number}: captions must be a non-empty list")
        for caption in texts:
            yield _caption(row.get("path"), caption, f"line {number}")


def _csv(text: str) -> Iterator[Caption]:
    for number, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 1 and [cell.strip().lower() for cell in row] == ["path", "caption"]:
            continue
        if len(row) != 2:
            raise _Problem(f"line {number}: expected 2 columns (path, caption), found {len(row)}")
        yield _caption(row[0], row[1], f"line {number}")


def _karpathy(text: str, split: str) -> Iterator[Caption]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Problem(f"not JSON ({error.msg} at line {error.lineno})") from None
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list):
        raise _Problem('expected the Karpathy split form: {"images": [...]}')
    for number, image in enumerate(images, 1):
        where = f"image {number}"
        if not isinstance(image, dict) or not isinstance(image.get("sentences"), list):
            raise _Problem(f"{where}: expected filename and sentences")
        if split != "all" and image.get("split") != split:
            continue
        name = image.get("filename")
        folder = image.get("filepath")
        path = f"{folder}/{name}" if isinstance(folder, str) and folder and name else name
        for sentence in image["sentences"]:
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            yield _caption(path, raw, where)
