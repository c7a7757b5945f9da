"""The keyword index's copy of each image's tags, recognised text and descriptions (SQLite's
FTS5 table, see migrations 0002, 0005 and 0016), and the generation that counts changes to them.

The triggers on ``images`` fill a row from the tag and text tables when the image row changes;
code that writes tags or text calls :func:`refresh_search_text` for the images it changed, in
the same transaction (one statement per chunk, not one trigger per tag row: re-tagging a whole
library stays a few statements). Cached selections that depend on tags or on indexed words are
keyed by :func:`text_generation`, which every such write bumps.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from pixsift.search.storage.models import LibraryState
from pixsift.search.storage.rows import chunks

STATE_TEXT_GENERATION = "text_generation"

_DELETE = text("DELETE FROM image_search_text WHERE rowid IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
_INSERT = text(
    "INSERT INTO image_search_text "
    "(rowid, path_words, description, keywords, tags, text_in_image) "
    "SELECT images.id, images.relative_path, coalesce(images.description, '') || ' ' || "
    "coalesce((SELECT text FROM image_descriptions "
    "WHERE image_descriptions.image_id = images.id), ''), "
    "coalesce(images.keywords, ''), "
    "coalesce((SELECT group_concat(tag, ' ') FROM image_tags "
    "WHERE image_tags.image_id = images.id AND image_tags.source != 'removed'), ''), "
    "coalesce((SELECT text FROM image_text WHERE image_text.image_id = images.id), '') "
    "FROM images WHERE images.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def refresh_search_text(session: Session, image_ids: Sequence[int]) -> None:
    """Make the keyword index's rows of ``image_ids`` current, and bump the text generation."""
    if not image_ids:
        return
    session.flush()  # the statements below read the tag and text rows just added
    if session.get_bind().dialect.name == "sqlite":
        for chunk in chunks(sorted(set(image_ids))):
            session.execute(_DELETE, {"ids": chunk})
            session.execute(_INSERT, {"ids": chunk})
    bump_text_generation(session)


def bump_text_generation(session: Session) -> None:
    state = session.get(LibraryState, STATE_TEXT_GENERATION)
    if state is None:
        session.add(LibraryState(key=STATE_TEXT_GENERATION, value="1"))
    else:
        state.value = str(int(state.value) + 1)


def text_generation(session: Session) -> int:
    value = session.scalar(
        select(LibraryState.value).where(LibraryState.key == STATE_TEXT_GENERATION)
    )
    return int(value or 0)
