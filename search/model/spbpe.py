"""SentencePiece-style BPE (Gemma's, SigLIP2's tokenizer) run in Python over tables read on
demand, giving the same ids as Hugging Face ``tokenizers`` for serialisations of that one shape.

Loading Gemma's ``tokenizers`` serialisation (256,000 pieces, 580,604 merges, 17 MB of JSON)
costs ~1 s, more than the rest of a CLI query; building Python dictionaries of the same tables
still costs ~0.5 s. A query needs a few dozen of those entries, so they are saved hashed into
buckets (crc32 of the key), with a table of bucket offsets: loading maps the file, and a lookup
decodes only its own bucket.

The shape reproduced (anything else keeps ``tokenizers``): a BPE model without dropout, word
prefix/suffix or ignore_merges, with or without byte fallback and fused unknowns; a normalizer of
plain string replacements (Gemma's ' ' -> '▁') or none; no pre-tokenizer, or a split on a
character the normalizer has replaced (the whole text is one word); added tokens matched in the
raw text only (not normalised, no strip or single-word rule); a template post-processor
"specials $A specials" or none. The merging is tokenizers' own
(``Word::merge_all``): a priority queue on (rank, position), one pair merged at a time, entries
made stale by an earlier merge skipped.
"""

from __future__ import annotations

import heapq
import json
import mmap
import re
import struct
import sys
import zlib
from array import array
from pathlib import Path
from typing import Any

from pixsift.search.errors import damaged_tower_file

TABLES_FILE = "hf-bpe-tables.bin"
_MAGIC = b"PXSPBPE1"
#: Buckets of the hashed tables: ~9 entries each for Gemma's 600,000.
_BUCKETS = 1 << 16
#: Separates keys and values in a bucket; no piece may contain it (checked when saving).
_SEPARATOR = "\x00"
#: The byte fallback's pieces, tokenizers' ``format!("<{b:#04X}>")``.
_BYTE_PIECE = re.compile("<0x[0-9A-F]{2}>")
#: Decoded buckets and looked-up pairs a tokenizer keeps (a server's queries repeat their words;
#: arbitrary texts would otherwise grow them towards the whole table).
_CACHE_SIZE = 50_000


def reproducible_config(serialised: dict[str, Any]) -> dict[str, Any] | None:
    """The settings the Python BPE needs from a ``tokenizers`` serialisation, or None when it is
    not of the shape reproduced here."""
    model = serialised.get("model") or {}
    if model.get("type") != "BPE" or model.get("dropout") not in (None, 0.0):
        return None
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return None
    replacements = _replacements(serialised.get("normalizer"))
    if model.get("ignore_merges") or replacements is None:
        return None
    template = _template(serialised.get("post_processor"))
    added = serialised.get("added_tokens") or []
    if template is None or not _raw_matched(added):
        return None
    if not _splits_nothing(serialised.get("pre_tokenizer"), replacements):
        return None
    vocabulary = model["vocab"]
    if any(_SEPARATOR in piece or " " in piece for piece in vocabulary):
        return None
    unk = model.get("unk_token")
    return {
        "replacements": replacements,
        "prefix": template[0],
        "suffix": template[1],
        "added": {token["content"]: token["id"] for token in added},
        "unk_id": vocabulary[unk] if unk is not None else None,
        "unk": unk,
        "fuse_unk": bool(model.get("fuse_unk")),
        "byte_fallback": bool(model.get("byte_fallback")),
    }


def _replacements(normalizer: dict[str, Any] | None) -> list[list[str]] | None:
    if normalizer is None:
        return []
    parts = normalizer["normalizers"] if normalizer["type"] == "Sequence" else [normalizer]
    if any(part["type"] != "Replace" or "String" not in part["pattern"] for part in parts):
        return None
    return [[part["pattern"]["String"], part["content"]] for part in parts]


def _template(processor: dict[str, Any] | None) -> tuple[list[int], list[int]] | None:
    """(ids before, ids after) the text of a "specials $A specials" template."""
    if processor is None:
        return [], []
    if processor["type"] != "TemplateProcessing":
        return None
    pieces = processor["single"]
    sequence = [at for at, piece in enumerate(pieces) if "Sequence" in piece]
    if len(sequence) != 1 or pieces[sequence[0]]["Sequence"]["id"] != "A":
        return None
    specials = processor["special_tokens"]

    def ids(part: list[dict[str, Any]]) -> list[int]:
        return [i for piece in part for i in specials[piece["SpecialToken"]["id"]]["ids"]]

    return ids(pieces[: sequence[0]]), ids(pieces[sequence[0] + 1 :])


def _splits_nothing(pre_tokenizer: dict[str, Any] | None, replacements: list[list[str]]) -> bool:
    """Whether the pre-tokenizer leaves the normalised text whole: none, or a split on a
    character the normalizer replaces everywhere (transformers 5 gives Gemma's tokenizer a split
    on ' ', which the normalizer has already turned into '▁')."""
    if pre_tokenizer is None:
        return True
    if pre_tokenizer["type"] != "Split" or pre_tokenizer.get("invert"):
        return False
    pattern = pre_tokenizer["pattern"].get("String")
    if pattern is None or len(pattern) != 1:
        return False
    replaced = [at for at, (old, _) in enumerate(replacements) if old == pattern]
    return bool(replaced) and all(pattern not in new for _, new in replacements[replaced[0] :])


def _raw_matched(added: list[dict[str, Any]]) -> bool:
    return all(
        not token["normalized"] and not (token["lstrip"] or token["rstrip"] or token["single_word"])
        for token in added
    )


def _bucket(key: str) -> int:
    return zlib.crc32(key.encode("utf-8")) & (_BUCKETS - 1)


def save_tables(serialised: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """Write the tables of serialisation ``serialised`` (shape checked by
    ``reproducible_config``, whose ``config`` goes in the file's header) to ``path``: each
    single-character and byte piece -> its id, each merge "first second" -> its rank and the
    joined piece's id."""
    model = serialised["model"]
    vocabulary: dict[str, int] = model["vocab"]
    buckets: list[list[str]] = [[] for _ in range(_BUCKETS)]
    for piece, piece_id in vocabulary.items():
        if len(piece) == 1 or _BYTE_PIECE.fullmatch(piece):
            buckets[_bucket(piece)] += [piece, str(piece_id)]
    for rank, merge in enumerate(model["merges"]):
        first, second = merge.split(" ") if isinstance(merge, str) else merge
        key = f"{first} {second}"
        buckets[_bucket(key)] += [key, f"{rank} {vocabulary[first + second]}"]
    data = [_SEPARATOR.join(bucket).encode("utf-8") for bucket in buckets]
    offsets = array("I", [0])
    for chunk in data:
        offsets.append(offsets[-1] + len(chunk))
    if sys.byteorder != "little":
        offsets.byteswap()
    header = json.dumps(config).encode("utf-8")
    with path.open("wb") as out:
        out.write(_MAGIC + struct.pack("<I", len(header)) + header)
        out.write(offsets.tobytes())
        out.write(b"".join(data))


class SentencePieceBpe:
    """Text -> ids as ``tokenizers`` encodes it (no truncation or padding) for a saved table."""

    def __init__(self, path: Path) -> None:
        try:
            with path.open("rb") as file:
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # mmap refuses an empty file
            raise damaged_tower_file(path, "it is empty") from None
        config = self._header(path)
        try:
            self._replacements = [tuple(pair) for pair in config["replacements"]]
            self.prefix: list[int] = config["prefix"]
            self.suffix: list[int] = config["suffix"]
            self._added: dict[str, int] = config["added"]
            self._unk: str | None = config["unk"]
            self._unk_id: int | None = config["unk_id"]
            self._fuse_unk: bool = config["fuse_unk"]
            self._byte_fallback: bool = config["byte_fallback"]
        except (KeyError, TypeError):
            raise damaged_tower_file(path, "its header lacks a setting") from None
        self._buckets: dict[int, dict[str, str]] = {}
        # Added tokens split the raw text, leftmost then longest first (tokenizers' matching).
        longest_first = sorted(self._added, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")").split
        self._merges: dict[tuple[str, str], tuple[int, int] | None] = {}

    def _header(self, path: Path) -> dict[str, Any]:
        """The header's settings, once the file's layout is checked: a file cut short or
        grown would otherwise give wrong ids for some words, silently."""
        if self._map[: len(_MAGIC)] != _MAGIC:
            raise damaged_tower_file(path, "it is not a table of SentencePiece-style BPE merges")
        start = len(_MAGIC) + 4
        if len(self._map) < start:
            raise damaged_tower_file(path, "it is cut short")
        (length,) = struct.unpack_from("<I", self._map, len(_MAGIC))
        self._data = start + length + 4 * (_BUCKETS + 1)
        if len(self._map) < self._data:
            raise damaged_tower_file(path, "it is cut short")
        try:
            config = json.loads(self._map[start : start + length])
        except ValueError:  # not JSON, or not UTF-8
            raise damaged_tower_file(path, "its header is not readable") from None
        self._offsets = array("I")
        self._offsets.frombytes(self._map[start + length : self._data])
        if sys.byteorder != "little":
            self._offsets.byteswap()
        if self._offsets[0] != 0 or self._data + self._offsets[-1] != len(self._map):
            raise damaged_tower_file(path, "its size is not the size its index gives")
        if not isinstance(config, dict):
            raise damaged_tower_file(path, "its header is not readable")
        return config

    def _get(self, key: str) -> str | None:
        index = _bucket(key)
        bucket = self._buckets.get(index)
        if bucket is None:
            if len(self._buckets) >= _CACHE_SIZE:
                self._buckets.clear()
            start, end = self._offsets[index], self._offsets[index + 1]
            items = self._map[self._data + start : self._data + end].decode("utf-8")
            parts = items.split(_SEPARATOR) if items else []
            bucket = self._buckets[index] = dict(zip(parts[::2], parts[1::2], strict=True))
        return bucket.get(key)

    def _merge(self, first: str, second: str) -> tuple[int, int] | None:
        """(rank, id of the joined piece) of merging ``first`` and ``second``, if they merge."""
        pair = (first, second)
        if pair not in self._merges:
            if len(self._merges) >= _CACHE_SIZE:
                self._merges.clear()
            found = self._get(f"{first} {second}")
            rank, piece_id = found.split(" ") if found is not None else (None, None)
            self._merges[pair] = (int(rank), int(piece_id)) if found is not None else None
        return self._merges[pair]

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` between the template's special tokens."""
        ids: list[int] = []
        if not self._added:
            return self._word(self._normalized(text))
        for at, part in enumerate(self._split(text)):
            if at % 2:
                ids.append(self._added[part])
            elif part:
                ids += self._word(self._normalized(part))
        return ids

    def _normalized(self, text: str) -> str:
        for old, new in self._replacements:
            text = text.replace(old, new)
        return text

    def _symbols(self, word: str) -> tuple[list[str], list[int]]:
        """The word's characters as pieces (tokenizers' ``merge_word``): a piece of the
        vocabulary, else its UTF-8 bytes' <0xXX> pieces, else the unknown piece (fused)."""
        pieces: list[str] = []
        ids: list[int] = []
        unk_length = 0  # characters held back as one unknown piece, as tokenizers does
        for char in word:
            found = self._get(char)
            if found is not None:
                if unk_length:
                    pieces.append(str(self._unk))
                    ids.append(int(self._unk_id or 0))
                    unk_length = 0
                pieces.append(char)
                ids.append(int(found))
                continue
            if self._byte_fallback:
                names = [f"<0x{byte:02X}>" for byte in char.encode("utf-8")]
                codes = [self._get(name) for name in names]
                if None not in codes:
                    pieces += names
                    ids += [int(str(code)) for code in codes]
                    continue
            if self._unk_id is not None:
                if unk_length and not self._fuse_unk:
                    pieces.append(str(self._unk))
                    ids.append(self._unk_id)
                unk_length += 1
        if unk_length:
            pieces.append(str(self._unk))
            ids.append(int(self._unk_id or 0))
        return pieces, ids

    def _word(self, word: str) -> list[int]:
        """tokenizers' ``Word::merge_all``: the lowest (rank, position) pair merged first."""
        pieces, ids = self._symbols(word)
        following = [*range(1, len(pieces)), -1]
        previous = list(range(-1, len(pieces) - 1))
        queue: list[tuple[int, int, int]] = []
        for at in range(len(pieces) - 1):
            self._queue(queue, pieces, at, at + 1)
        while queue:
            _, at, new_id = heapq.heappop(queue)
            right = following[at]
            if not pieces[at] or right == -1:
                continue  # merged into its left neighbour, or last
            found = self._merge(pieces[at], pieces[right])
            if found is None or found[1] != new_id:
                continue  # an entry made stale by an earlier merge
            pieces[at] += pieces[right]
            ids[at] = new_id
            pieces[right] = ""
            following[at] = following[right]
            if following[at] != -1:
                previous[following[at]] = at
            if previous[at] != -1:
                self._queue(queue, pieces, previous[at], at)
            if following[at] != -1:
                self._queue(queue, pieces, at, following[at])
        return [piece_id for piece, piece_id in zip(pieces, ids, strict=True) if piece]

    def _queue(
        self, queue: list[tuple[int, int, int]], pieces: list[str], at: int, right: int
    ) -> None:
        """Queue the merge of neighbours ``at`` and ``right``, if they merge."""
        if (found := self._merge(pieces[at], pieces[right])) is not None:
            heapq.heappush(queue, (found[0], at, found[1]))
