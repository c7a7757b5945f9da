"""The one error family of pixsift.

Every failure a user can cause or fix is a :class:`PixsiftError` with a stable machine-readable
``code`` (used by the JSON API and tests) and a message written for the person reading it. The CLI
prints ``message`` on one line and exits non-zero; the web layer maps ``http_status``.
"""

from __future__ import annotations

from pathlib import Path


class PixsiftError(Exception):
    """Base of every error pixsift raises on purpose."""

    code: str = "pixsift_error"
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(PixsiftError):
    """A parameter, query or uploaded file that pixsift cannot use."""

    code = "invalid_input"
    http_status = 400


class NotFoundError(PixsiftError):
    """An image id, library or file that does not exist."""

    code = "not_found"
    http_status = 404


class WeightsUnavailableError(PixsiftError):
    """Model weights could not be found locally nor downloaded."""

    code = "weights_unavailable"
    http_status = 503


class ModelMismatchError(PixsiftError):
    """The library was built with a different model than the one asked for."""

    code = "model_mismatch"
    http_status = 409


class IndexMismatchError(PixsiftError):
    """The vector index on disk does not belong to this library's database."""

    code = "index_mismatch"
    http_status = 500


class LibraryError(PixsiftError):
    """The library directory or database cannot be used as it is."""

    code = "library_error"
    http_status = 500


class AuthenticationError(PixsiftError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    code = "unauthorized"
    http_status = 401


class PermissionDeniedError(PixsiftError):
    """Credentials that are valid but whose role does not allow the action."""

    code = "forbidden"
    http_status = 403


class ConflictError(PixsiftError):
    """Something with that name exists already."""

    code = "conflict"
    http_status = 409


class TorchRequiredError(PixsiftError):
    """Something that needs torch (exporting towers, the torch backend, training) asked for in
    an install without it (the core install runs on ONNX Runtime; see docs/packaging.md)."""

    code = "torch_required"
    http_status = 503


def damaged_tower_file(path: Path, reason: str) -> InvalidInputError:
    """A file of exported towers (a tokenizer's merges or tables) that cannot be what the
    exporter wrote: the message says how to have it made again."""
    return InvalidInputError(
        f"{path} is damaged ({reason}): delete {path.parent} and its towers are exported again"
    )
