"""Keyword matching over file names, folder names, descriptions, embedded keywords, tags and
text recognised in the pictures.

SQLite answers through its FTS5 index (kept current by triggers, see migration 0002),
PostgreSQL through its full-text search (a generated tsvector column with a GIN index, migration
0007); both split words at punctuation and spaces, ignore case and do not stem. A quoted word or
phrase in the query must appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    and_,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY, TSVECTOR
from sqlalchemy.orm import Session

from search.errors import LibraryError
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


def place_phrases(words: tuple[str, ...], longest: int = 3) -> list[str]:
    """Every run of one to ``longest`` consecutive words, lower case: the place names a query
    may hold ("new york city", "rio de janeiro")."""
    lowered = [word.lower() for word in words]
    return sorted({
        " ".join(lowered[start : start + size])
        for size in range(1, longest + 1)
        for start in range(len(lowered) - size + 1)
    })  # fmt: skip


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

#: PostgreSQL's search document of each image: a generated tsvector column with a GIN index
#: (migration 0007). Not an ORM attribute: SQLite has no such column.
SEARCH_TEXT = table("images", column("id", Integer), column("search_text", TSVECTOR))
SEARCH_CONFIGURATION = "simple"


def _ts_terms(terms: tuple[str, ...], combine: str) -> ColumnElement | None:
    """A tsquery matching every (``&&``) or any (``||``) of ``terms``, each a word or phrase.
    Each term is its own bound parameter read by phraseto_tsquery, so no user text is ever
    parsed as query syntax."""
    queries = [
        func.phraseto_tsquery(literal(SEARCH_CONFIGURATION, type_=REGCONFIG), term)
        for term in terms
    ]
    if not queries:
        return None
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.op(combine, return_type=TSQUERY)(query)
    return combined


class KeywordMatcher:
    """Keyword matching through the database's own full-text index: FTS5 on SQLite, a
    tsvector + GIN index on PostgreSQL. Ranked best first (bm25 / ts_rank), ties by id."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise LibraryError(f"keyword search needs SQLite or PostgreSQL, not {self.dialect}")

    def ranked_ids(self, query: KeywordQuery, limit: int) -> list[int]:
        """Ids of images matching any word, best first (all required phrases must match);
        then those taken in a place the words name (search.places), after the text matches."""
        ids = self._text_ranked_ids(query, limit)
        if query.required_phrases or (0 <= limit <= len(ids)):
            return ids
        known = set(ids)
        places = [i for i in self._place_ids(query, limit) if i not in known]
        return (ids + places)[:limit] if limit >= 0 else ids + places

    def _text_ranked_ids(self, query: KeywordQuery, limit: int) -> list[int]:
        expression = fts_any_words(query)
        if expression is None:
            return []
        if self.dialect == "postgresql":
            return self._postgres_ids(query, limit)
        required = fts_required(query)
        if required is not None:
            expression = f"({required}) AND ({expression})"
        return self._fts_ids(expression, limit)

    def _place_ids(self, query: KeywordQuery, limit: int) -> list[int]:
        names = place_phrases(query.words)
        if not names:
            return []
        columns = (Image.place_city, Image.place_region, Image.place_country)
        statement = (
            select(Image.id)
            .where(or_(*(func.lower(column).in_(names) for column in columns)))
            .order_by(Image.id)
        )
        if limit >= 0:
            statement = statement.limit(limit)
        with Session(self.engine) as session:
            return list(session.scalars(statement))

    def ids_with_required_phrases(self, query: KeywordQuery) -> set[int] | None:
        """Ids containing every quoted phrase; None when the query has none."""
        required = fts_required(query)
        if required is None:
            return None
        if self.dialect == "postgresql":
            return set(self._postgres_ids(KeywordQuery((), query.required_phrases), -1))
        return set(self._fts_ids(required, -1))

    def _fts_ids(self, expression: str, limit: int) -> list[int]:
        with Session(self.engine) as session:
            rows = session.execute(FTS_RANKED, {"expression": expression, "limit": limit})
            return [row[0] for row in rows]

    def _postgres_ids(self, query: KeywordQuery, limit: int) -> list[int]:
        document = SEARCH_TEXT.c.search_text
        any_term = _ts_terms((*query.words, *query.required_phrases), "||")
        condition = _postgres_match(document, any_term)
        required = _ts_terms(query.required_phrases, "&&")
        if required is not None:
            condition = and_(condition, _postgres_match(document, required))
        statement = (
            select(SEARCH_TEXT.c.id)
            .where(condition)
            .order_by(func.ts_rank(document, any_term).desc(), SEARCH_TEXT.c.id)
        )
        if limit >= 0:
            statement = statement.limit(limit)
        with Session(self.engine) as session:
            return list(session.scalars(statement))


def _postgres_match(document: ColumnElement, query: ColumnElement) -> ColumnElement:
    """Images whose own text, tags or recognised text match ``query`` (tags and text live in
    their own tables, matched through the same configuration)."""
    config = literal(SEARCH_CONFIGURATION, type_=REGCONFIG)
    tagged = select(ImageTag.image_id).where(
        func.to_tsvector(config, ImageTag.tag).op("@@")(query), ImageTag.source != "removed"
    )
    written = select(ImageText.image_id).where(
        func.to_tsvector(config, ImageText.text).op("@@")(query)
    )
    return or_(
        document.op("@@")(query), SEARCH_TEXT.c.id.in_(tagged), SEARCH_TEXT.c.id.in_(written)
    )
