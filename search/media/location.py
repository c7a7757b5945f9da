"""A JPEG's bytes without where it was taken: for callers who may not see GPS positions.

Lossless: the picture's own segments (quantisation and Huffman tables, frame, scans) are copied
byte for byte; metadata segments are dropped, whatever they hold (the Exif block with its GPS IFD
and maker notes, which some cameras fill with positions too; XMP, which can repeat them; IPTC;
comments; other applications' blocks), and so is anything after the first picture ends (an MPO's
further pictures, a phone's appended video or depth map, each with metadata of its own). Kept:
the JFIF header, the colour profile (ICC), Adobe's colour-transform marker, and the Exif
orientation, rewritten alone, so the picture still shows upright.

A video is copied packet for packet (picture and sound, no new encoding) into a new file of the
same container, with no container or stream metadata and no data streams.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from pixsift.search.errors import InvalidInputError

_SOI, _EOI, _SOS, _APP0, _APP1, _APP2, _APP14 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xE2, 0xEE
ORIENTATION_TAG = 0x0112
EXIF_HEADER = b"Exif\x00\x00"


class NotAJpegError(InvalidInputError):
    """Bytes that are not a JPEG this module can walk segment by segment."""


def jpeg_without_location(data: bytes) -> bytes:
    """``data`` (a JPEG or MPO file) with every metadata segment dropped but its orientation."""
    if data[:2] != b"\xff\xd8":
        raise NotAJpegError("not a JPEG: no start-of-image marker")
    kept = [data[:2]]
    position = 2
    while position + 1 < len(data):
        if data[position] != 0xFF:
            raise NotAJpegError(f"not a JPEG: no marker at byte {position}")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _EOI:
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            kept.append(data[position : position + 2])
            position += 2
            continue
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if end > len(data):
            raise NotAJpegError("not a JPEG: a segment runs past the end of the file")
        if marker == _SOS:
            end = _scan_end(data, end)
            kept.append(data[position:end])
        else:
            kept.append(_kept_segment(marker, data[position:end]))
        position = end
    kept.append(b"\xff\xd9")
    return b"".join(kept)


def _kept_segment(marker: int, segment: bytes) -> bytes:
    payload = segment[4:]
    if marker == _APP0 and payload.startswith((b"JFIF\x00", b"JFXX\x00")):
        return segment
    if marker == _APP2 and payload.startswith(b"ICC_PROFILE\x00"):
        return segment
    if marker == _APP14 and payload.startswith(b"Adobe"):
        return segment
    if marker == _APP1 and payload.startswith(EXIF_HEADER):
        return _orientation_only(payload[len(EXIF_HEADER) :])
    if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # other application blocks, comments
        return b""
    return segment  # the picture itself: tables, frame, restart interval


def _orientation_only(tiff: bytes) -> bytes:
    """An APP1 Exif segment holding only the orientation of ``tiff`` (empty if none)."""
    exif = Image.Exif()
    try:
        exif.load(tiff)
        orientation = exif.get(ORIENTATION_TAG)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError):
        return b""  # unreadable Exif: dropped whole, and the picture shows as stored
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return b""
    alone = Image.Exif()
    alone[ORIENTATION_TAG] = orientation
    body = alone.tobytes()  # starts with the Exif header
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def _scan_end(data: bytes, start: int) -> int:
    """Where the entropy-coded data after a start-of-scan header ends: at the next marker that
    is neither a stuffed 0xFF (FF 00) nor a restart marker."""
    position = start
    while True:
        found = data.find(b"\xff", position)
        if found < 0 or found + 1 >= len(data):
            return len(data)
        following = data[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            position = found + 1 if following == 0xFF else found + 2
            continue
        return found


#: Containers pixsift serves videos in (search.media.video.VIDEO_MIME_TYPES), by libavformat
#: muxer name.
VIDEO_MUXERS = {"MP4": "mp4", "MOV": "mov", "MKV": "matroska", "WEBM": "webm", "AVI": "avi"}
#: What is copied: the picture and the sound. Not data streams (a phone's timed metadata track
#: can hold a position per frame), nor any container or stream metadata (QuickTime ``©xyz``).
COPIED_STREAMS = ("video", "audio")


class VideoLocationError(InvalidInputError):
    """A video that cannot be copied without its metadata."""


def video_without_location(source: BinaryIO, video_format: str, destination: Path) -> None:
    """Write the video open as ``source`` to ``destination`` with its picture and sound copied
    packet for packet (no new encoding) and none of its metadata."""
    import av

    muxer = VIDEO_MUXERS.get(video_format)
    if muxer is None:
        raise VideoLocationError(f"no container to copy a {video_format} video into")
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    os.close(handle)
    # MP4/MOV: the index first, so a browser plays the copy while it arrives.
    options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
    try:
        with (
            av.open(source) as opened,
            av.open(temporary, "w", format=muxer, options=options) as copy,
        ):
            streams = {
                stream.index: copy.add_stream_from_template(stream)
                for stream in opened.streams
                if stream.type in COPIED_STREAMS
            }
            for stream in streams.values():
                for key in list(stream.metadata):
                    del stream.metadata[key]
            for packet in opened.demux(*[opened.streams[i] for i in streams]):
                if packet.dts is None:
                    continue  # the demuxer's flush packet
                packet.stream = streams[packet.stream.index]
                copy.mux(packet)
        os.replace(temporary, destination)
    except (av.FFmpegError, OSError) as error:
        Path(temporary).unlink(missing_ok=True)
        raise VideoLocationError(
            f"the video cannot be copied without its metadata: {error}"
        ) from None
