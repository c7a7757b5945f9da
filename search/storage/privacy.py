"""A library folder that only its owner can read: it holds the database (password and key hashes,
every path, every GPS position), the session key and the thumbnails.

A new folder is made 0700 and a new SQLite file 0600 whatever the umask (SQLite gives its -wal and
-shm files the mode of the database file). An existing folder that others can enter is left as it
is (pixsift does not change what its owner chose) and reported in one line.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from pixsift.search.errors import LibraryError

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
logger = logging.getLogger("pixsift")
#: Folders already reported by this process: a server opens its library more than once.
_reported: set[Path] = set()


def private_directory(directory: Path) -> Path:
    """``directory``, absolute, made 0700 if it is new; a warning if others can enter it."""
    directory = Path(os.path.abspath(directory.expanduser()))
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=PRIVATE_DIRECTORY_MODE)
    except FileExistsError:
        _warn_if_readable(directory)
    except OSError as error:
        raise LibraryError(f"cannot create library directory {directory}: {error}") from error
    else:
        directory.chmod(PRIVATE_DIRECTORY_MODE)  # mkdir's mode is masked by the umask
    return directory


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is an empty SQLite
    database, so SQLite then opens it with that mode kept)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    except OSError as error:
        raise LibraryError(f"cannot create the library database {path}: {error}") from error
    os.close(descriptor)


def _warn_if_readable(directory: Path) -> None:
    try:
        mode = directory.stat().st_mode
    except OSError:
        return  # opening it says why, in its own words
    if stat.S_ISDIR(mode) and stat.S_IMODE(mode) & 0o077 and directory not in _reported:
        _reported.add(directory)
        logger.warning(
            "pixsift: the library %s can be read by other users of this machine (it holds "
            "password and key hashes, every path and GPS position): chmod 700 %s",
            directory,
            directory,
        )
