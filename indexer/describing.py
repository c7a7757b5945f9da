"""Descriptions of pictures, opt-in: the library setting, and the pass that fills them in.

A follow-up pass after embedding (it never delays a picture becoming searchable): the pictures
without a description from the current captioner (photos, and moments of videos: the frame at
the moment's time) are read from disk, described a batch at a time, and each batch is committed
with its keyword-index rows, so a stopped run resumes where it was. A picture that cannot be read
gets its reason instead, and is not tried again by the same captioner; hand-written descriptions
are never replaced.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from pixsift.search.caption.protocol import Captioner, CaptionerSpec
from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.media.errors import ImageRejectedError
from pixsift.search.media.imagefile import read_image_for_embedding
from pixsift.search.media.video import read_frame
from pixsift.search.storage.descriptions import (
    Described,
    ToDescribe,
    count_to_describe,
    images_to_describe,
    write_descriptions,
)
from pixsift.search.storage.search_text import refresh_search_text

#: The library setting that remembers ``pixsift index --describe`` ("on" or "off").
STATE_DESCRIBE = "describe"
#: The captioner a library describes with (model and weights, "model|pretrained").
STATE_CAPTIONER = "captioner"
#: Pictures described per batch (and per commit).
DEFAULT_DESCRIBE_BATCH = 8
#: Pixels of the shorter side read for describing (captioners look at 224-448 px).
READ_SIDE = 448


def describe_enabled(library: Library) -> bool:
    return library.store.get_state(STATE_DESCRIBE) == "on"


def remember_describe(library: Library, enabled: bool | None) -> bool:
    """Store ``--describe``/``--no-describe`` for later runs (None keeps the stored choice)."""
    if enabled is not None:
        library.store.set_state(STATE_DESCRIBE, "on" if enabled else "off")
    return describe_enabled(library)


def captioner_spec(library: Library, model: str | None, pretrained: str | None) -> CaptionerSpec:
    """The captioner asked for (then remembered by the library), else the library's, else the
    default."""
    stored = library.store.get_state(STATE_CAPTIONER)
    defaults = CaptionerSpec()
    if stored and not (model or pretrained):
        name, _, weights = stored.partition("|")
        return CaptionerSpec(model_name=name, pretrained=weights)
    spec = CaptionerSpec(
        model_name=_absolute_if_file(model) or defaults.model_name,
        pretrained=_absolute_if_file(pretrained) or defaults.pretrained,
    )
    library.store.set_state(STATE_CAPTIONER, f"{spec.model_name}|{spec.pretrained}")
    return spec


def _absolute_if_file(value: str | None) -> str | None:
    """A path is stored absolute, so later commands find it from any folder."""
    if value and Path(value).expanduser().exists():
        return str(Path(value).expanduser().resolve())
    return value


@dataclass
class DescribeSummary:
    described: int = 0
    failed: int = 0
    seconds: float = 0.0


def describe_pending(
    library: Library,
    captioner: Captioner,
    *,
    batch_size: int = DEFAULT_DESCRIBE_BATCH,
    show_progress: bool | None = None,
    on_batch: Callable[[int], None] | None = None,
    video_id: int | None = None,
) -> DescribeSummary:
    """Describe every picture (or only ``video_id``'s moments) without a description from
    ``captioner``, committing each batch (a stopped run resumes where it was).
    ``show_progress`` None: a bar on a terminal only."""
    if batch_size < 1:
        raise InvalidInputError(f"batch size must be at least 1, not {batch_size}")
    summary = DescribeSummary()
    started = time.monotonic()
    with library.store.session() as session:
        total = count_to_describe(session, captioner.captioner_id, video_id)
    bar = tqdm(total=total, unit="img", desc="describing", disable=_quiet(show_progress))
    after = 0
    try:
        while True:
            with library.store.session() as session:
                pending = images_to_describe(
                    session, captioner.captioner_id, batch_size, after, video_id
                )
            if not pending:
                break
            after = pending[-1][0]
            results = describe_files(captioner, pending)
            with library.store.session() as session:
                write_descriptions(session, results, captioner.captioner_id)
                refresh_search_text(session, [result.image_id for result in results])
            summary.failed += sum(result.failure is not None for result in results)
            summary.described += sum(result.failure is None for result in results)
            bar.update(len(results))
            if on_batch is not None:
                on_batch(len(results))
    finally:
        bar.close()
    summary.seconds = time.monotonic() - started
    return summary


def describe_files(captioner: Captioner, files: list[ToDescribe]) -> list[Described]:
    """Read and describe ``files`` (photos, and moments: their video's frame at that time);
    unreadable ones get their reason."""
    pictures: list[tuple[int, Image.Image]] = []
    failed: list[Described] = []
    for item in files:
        try:
            picture = _read_picture(item)
        except (ImageRejectedError, OSError) as error:
            failed.append(Described(item.image_id, "", f"could not read the picture: {error}"))
            continue
        pictures.append((item.image_id, picture))
    texts = captioner.describe([picture for _, picture in pictures]) if pictures else []
    done = [Described(i, text) for (i, _), text in zip(pictures, texts, strict=True)]
    return sorted(done + failed, key=lambda result: result.image_id)


def _read_picture(item: ToDescribe) -> Image.Image:
    path = Path(os.fsdecode(item.path_bytes))
    if item.offset_s is None:
        return read_image_for_embedding(path, min_side=READ_SIDE).pixels
    # Captioners look at a few hundred pixels: the frame is scaled as the indexer's moments are.
    return read_frame(path, item.offset_s, side=READ_SIDE)  # VideoRejectedError: a reason


def _quiet(show_progress: bool | None) -> bool | None:
    # tqdm's None means: draw only on a terminal, stay quiet in pipes and logs.
    return None if show_progress is None else not show_progress
