"""``pixsift describe VIDEO``: a video is described by its moments, one line each with its time.

An indexed video's moments are described (those without a description from the captioner) and
stored, like ``pixsift describe ID`` does for a photo; a video file the library does not hold is
sampled as the indexer would, and its moments are described without storing anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pixsift.indexer.describing import READ_SIDE, describe_pending
from pixsift.search.caption.protocol import Captioner
from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.media.video import SamplingOptions, VideoRejectedError, sample_moments
from pixsift.search.storage.descriptions import descriptions_of
from pixsift.search.storage.videos import VideoStore


def indexed_moments(library: Library, path: Path) -> list[int]:
    """The moments (ids, in time order) of ``path`` when the library holds it as a video."""
    return VideoStore(library.store).moments_at(os.fsencode(path.resolve()))


def describe_indexed_video(
    library: Library, load: Callable[[], Captioner], moment_ids: list[int]
) -> str:
    """Describe (and store) the moments of an indexed video that the captioner has not; one
    line per moment: its time and its description (or why there is none)."""
    records = library.images(moment_ids)
    video_id = records[moment_ids[0]].video_id
    describe_pending(library, load(), video_id=video_id, show_progress=False)
    with library.store.session() as session:
        rows = descriptions_of(session, moment_ids)
    lines = []
    for moment_id in moment_ids:
        row = rows.get(moment_id)
        text = "(no description)" if row is None else row.text or "(description cleared)"
        if row is not None and row.failure:
            text = f"({row.failure})"
        lines.append(moment_line(records[moment_id].offset_s or 0.0, text))
    return "\n".join(lines)


def describe_video_file(load: Callable[[], Captioner], path: Path, name: str) -> str:
    """Sample a video the library does not hold, as the indexer would, and describe each
    moment (nothing is stored)."""
    try:
        sample = sample_moments(path, SamplingOptions(frame_side=READ_SIDE))
    except VideoRejectedError as error:
        raise InvalidInputError(f"{name}: {error.reason}") from None
    texts = load().describe([moment.picture for moment in sample.moments])
    return "\n".join(
        moment_line(moment.offset_seconds, text)
        for moment, text in zip(sample.moments, texts, strict=True)
    )


def moment_line(offset_s: float, text: str) -> str:
    """``0:04  a red star ...``: the moment's time (h:mm:ss past an hour) and its text."""
    minutes, seconds = divmod(int(offset_s), 60)
    hours, minutes = divmod(minutes, 60)
    time = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    return f"{time}  {text}"
