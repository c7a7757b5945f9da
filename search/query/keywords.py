"""Keyword matching over file names, folder names, descriptions, embedded keywords, tags and
text recognised in the pictures.

SQLite answers through its FTS5 index (kept current by triggers, see migration 0002); other
databases fall back to case-insensitive LIKE. A quoted word or phrase in the query must appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, and_, or_, select, text
from sqlalchemy.orm import Session

from search.storage.models import Image, ImageTag, ImageText

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_WORD_CHARACTERS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class KeywordQuery:
    words: tuple[str, ...]
    required_phrases: tuple[str, ...]

    def is_empty(self) -> bool:
        return not (self.words or self.required_phrases)


def parse_keyword_query(query_text: str) -> KeywordQuery:
    """Split a query into optional words and quoted phrases that must appear."""
    words: list[str] = []
    phrases: list[str] = []
    for quoted, bare in _TOKEN.findall(query_text):
        if quoted:
            phrase_words = _WORD_CHARACTERS.findall(quoted)
            if phrase_words:
                phrases.append(" ".join(phrase_words))
        else:
            words.extend(_WORD_CHARACTERS.findall(bare))
    return KeywordQuery(tuple(dict.fromkeys(words)), tuple(dict.fromkeys(phrases)))


def _fts_string(words: str) -> str:
    # Every user word becomes an FTS5 string literal, so no query syntax can be injected.
    return '"' + words.replace('"', '""') + '"'


def fts_any_words(query: KeywordQuery) -> str | None:
    terms = [_fts_string(word) for word in (*query.words, *query.required_phrases)]
    return " OR ".join(terms) or None


def fts_required(query: KeywordQuery) -> str | None:
    terms = [_fts_string(phrase) for phrase in query.required_phrases]
    return " AND ".join(terms) or None


FTS_RANKED = text(
    "SELECT rowid FROM image_search_text WHERE image_search_text MATCH :expression "
    "ORDER BY bm25(image_search_text), rowid LIMIT :limit"
)


class KeywordMatcher:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.uses_full_text_index = engine.dialect.name == "sqlite"

    def ranked_ids(self, query: KeywordQuery, limit: int) -> list[int]:
        """Ids of images matching any word, best first (all required phrases must match)."""
        expression = fts_any_words(query)
        if expression is None:
            return []
        required = fts_required(query)
        if not self.uses_full_text_index:
            return self._like_ids(query, limit)
        if required is not None:
            expression = f"({required}) AND ({expression})"
        return self._fts_ids(expression, limit)

    def ids_with_required_phrases(self, query: KeywordQuery) -> set[int] | None:
        """Ids containing every quoted phrase; None when the query has none."""
        required = fts_required(query)
        if required is None:
            return None
        if not self.uses_full_text_index:
            return set(self._like_ids(KeywordQuery(query.required_phrases, ()), -1, True))
        return set(self._fts_ids(required, -1))

    def _fts_ids(self, expression: str, limit: int) -> list[int]:
        with Session(self.engine) as session:
            rows = session.execute(FTS_RANKED, {"expression": expression, "limit": limit})
            return [row[0] for row in rows]

    def _like_ids(self, query: KeywordQuery, limit: int, match_all: bool = False) -> list[int]:
        matches = [
            or_(
                Image.relative_path.icontains(word, autoescape=True),
                Image.description.icontains(word, autoescape=True),
                Image.keywords.icontains(word, autoescape=True),
                Image.id.in_(
                    select(ImageTag.image_id).where(
                        ImageTag.tag.icontains(word, autoescape=True), ImageTag.source != "removed"
                    )
                ),
                Image.id.in_(
                    select(ImageText.image_id).where(
                        ImageText.text.icontains(word, autoescape=True)
                    )
                ),
            )
            for word in (*query.words, *query.required_phrases)
        ]
        statement = select(Image.id).where(and_(*matches) if match_all else or_(*matches))
        statement = statement.order_by(Image.id)
        if limit >= 0:
            statement = statement.limit(limit)
        with Session(self.engine) as session:
            return list(session.scalars(statement))
