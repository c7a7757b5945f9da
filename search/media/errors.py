"""Why a file cannot be indexed: the one exception family of the media reader.

Every failure while reading or decoding a file becomes :class:`ImageRejectedError` with a short
reason, so one bad file never takes down a worker process.
"""

from __future__ import annotations

MAX_REASON_DETAIL = 200


class ImageRejectedError(Exception):
    """The file cannot be indexed; ``.reason`` is a short human-readable reason."""

    def __init__(self, reason: str) -> None:
        # Passing reason to Exception keeps the error picklable across worker processes.
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class OversizedImageError(ImageRejectedError):
    """The file or its pixel count is over the limit (decompression bombs included): the one
    rejection that callers answer differently (an upload gets 413, not 400)."""


def describe(exc: BaseException) -> str:
    """The exception's type and its message, on one short line."""
    message = short(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def short(exc: BaseException) -> str:
    """The exception's message on one line, cut to a length a failure listing can show."""
    message = " ".join(str(exc).split())
    if len(message) > MAX_REASON_DETAIL:
        message = message[: MAX_REASON_DETAIL - 3] + "..."
    return message
