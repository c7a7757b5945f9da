"""ftfy's text fixing, skipped where it cannot change the text."""

from __future__ import annotations


def fix_text(text: str) -> str:
    """``ftfy.fix_text(text)``, without importing ftfy (~5 % of a CLI search's CPU) where it
    returns the text as it is: printable ASCII without "&" has no mojibake, no HTML entity, no
    control character, no curly quote, ligature or wide character for ftfy to fix (checked
    against ftfy in tests/test_tokenizer.py)."""
    if text.isascii() and text.isprintable() and "&" not in text:
        return text
    import ftfy

    return ftfy.fix_text(text)
