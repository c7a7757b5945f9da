"""File names as text: what the library shows for a name the disk holds as bytes.

POSIX names are bytes: anything but ``/`` and NUL, and not necessarily UTF-8. The library keeps
those bytes to open the file again and shows a *display form*: the name decoded as UTF-8 with
each undecodable byte shown as U+FFFD (the Unicode replacement character).

Why U+FFFD and not ``\\xNN`` escapes: U+FFFD is the standard, unambiguous mark for "a byte that
is not text here" (browsers and every UTF-8 decoder use it); an escape such as ``\\xe9`` is
itself a valid name, so a display form using escapes could not be told from a real file named
that way. The display form is also what the text columns of the store hold, so filters and
keyword search match the same text the results show. It is lossy only for names that are not
UTF-8; records say so (``path_is_exact``) and the library still opens those files by their bytes.

Every other character is kept, control characters included: JSON escapes them, CSV quotes them,
and an export must carry the name the disk has. Only output to a terminal escapes them
(:func:`terminal_text`), so that a newline in a name cannot break or forge a line.
"""

from __future__ import annotations

import re
import unicodedata

#: Control characters with a short conventional escape; others become \\xNN or \\uNNNN.
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
#: Unicode categories a terminal may act on instead of showing: controls (ESC, newline...), line
#: and paragraph separators, and formatting characters (bidirectional overrides can reorder
#: what a line appears to say).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cf"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def display_path(raw: bytes) -> str:
    """The display form of a file-system name: valid Unicode, undecodable bytes as U+FFFD."""
    return raw.decode("utf-8", errors="replace")


def is_exact(raw: bytes) -> bool:
    """Whether the display form of ``raw`` names it exactly (the bytes are valid UTF-8)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def valid_text(text: str) -> str:
    """``text`` with lone surrogates (from ``os.fsdecode`` or a careless decoder) replaced by
    U+FFFD, so that it can be written as UTF-8 (SQLite, JSON, CSV) without failing."""
    return _SURROGATE.sub("\ufffd", text)


def terminal_text(text: str) -> str:
    """``text`` on one terminal line: backslash, control, separator and format characters are
    written as backslash escapes (like ``ls -b``); everything else is kept."""
    return "".join(_escape_character(character) for character in text)


def _escape_character(character: str) -> str:
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    if unicodedata.category(character) not in _UNSAFE_CATEGORIES:
        return character
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
