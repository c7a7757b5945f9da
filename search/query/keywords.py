"""Keyword matching over file names, folder names, descriptions (embedded and generated),
embedded keywords, tags and text recognised in the pictures.

SQLite answers through its FTS5 index (kept current by triggers, see migration 0002),
PostgreSQL through its full-text search (a generated tsvector column with a GIN index, migration
0007); both split words at punctuation and spaces, ignore case and do not stem. A quoted word or
phrase in the query must appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    String,
    and_,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

from pixsift.search.errors import LibraryError
from pixsift.search.storage.models import Image, ImageDescription, ImageTag, ImageText

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


#: The keyword index's columns other than the tags (see search.storage.search_text).
FTS_COLUMNS_BUT_TAGS = "{path_words description keywords text_in_image}"


def fts_required(query: KeywordQuery) -> str | None:
    terms = [_fts_string(phrase) for phrase in query.required_phrases]
    return " AND ".join(terms) or None


#: The FTS5 index's vocabulary, one row per indexed term with the number of rows holding it
#: (an fts5vocab table over image_search_text, migration 0013): a lookup by term reads the
#: index's term list, not the rows. Not an ORM model: it exists only in the migration.
VOCABULARY = table("image_search_text_vocab", column("term", String), column("doc", Integer))


def vocabulary_term(word: str) -> str | None:
    """``word`` as the FTS5 tokenizer (unicode61, remove_diacritics 2) stores it, for words
    where that is certain: ASCII letters and digits, lower-cased. Other words (where case
    folding and diacritics follow the tokenizer's own tables) are not looked up."""
    if not word.isascii() or not word.isalnum():
        return None
    return word.lower()


def _phrase_words(phrase: str) -> list[str]:
    return _WORD_CHARACTERS.findall(phrase)


FTS_RANKED = text(
    "SELECT rowid FROM image_search_text WHERE image_search_text MATCH :expression "
    "ORDER BY bm25(image_search_text), rowid LIMIT :limit"
)

SEARCH_CONFIGURATION = "simple"


@cache
def search_text_table() -> TableClause:
    """PostgreSQL's search document of each image: a generated tsvector column with a GIN
    index (migration 0007). Not an ORM attribute: SQLite has no such column. Built on first use:
    SQLAlchemy's PostgreSQL dialect is a fifth of a second of imports a SQLite search never
    needs."""
    from sqlalchemy.dialects.postgresql import TSVECTOR

    return table("images", column("id", Integer), column("search_text", TSVECTOR))


def _ts_terms(terms: tuple[str, ...], combine: str) -> ColumnElement | None:
    """A tsquery matching every (``&&``) or any (``||``) of ``terms``, each a word or phrase.
    Each term is its own bound parameter read by phraseto_tsquery, so no user text is ever
    parsed as query syntax."""
    from sqlalchemy.dialects.postgresql import TSQUERY

    queries = [func.phraseto_tsquery(_search_configuration(), term) for term in terms]
    if not queries:
        return None
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.op(combine, return_type=TSQUERY)(query)
    return combined


class KeywordMatcher:
    """Keyword matching through the database's own full-text index: FTS5 on SQLite, a
    tsvector + GIN index on PostgreSQL. Ranked best first (bm25 / ts_rank), ties by id."""

    def __init__(self, engine: Engine, *, places: bool = True) -> None:
        # places=False: words never match where a picture was taken (a caller who may not see
        # locations could otherwise learn them by searching for place names).
        self.engine = engine
        self.places = places
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise LibraryError(f"keyword search needs SQLite or PostgreSQL, not {self.dialect}")

    def ranked_ids(
        self, query: KeywordQuery, limit: int, *, common_above: int | None = None
    ) -> list[int]:
        """Ids of images matching any word, best first (all required phrases must match);
        then those taken in a place the words name (search.places), after the text matches.

        On SQLite the index's vocabulary is read first (one lookup per word): a query none of
        whose words is indexed, or one with a required phrase that cannot occur, never reads
        the full-text table. Optional words found in more than ``common_above`` rows are left
        out (the engine passes half the library: bm25 gives such words no weight, so they
        could only let every image in, at the cost of ranking the whole library)."""
        ids = self._text_ranked_ids(query, limit, common_above)
        if query.required_phrases or (0 <= limit <= len(ids)) or not self.places:
            return ids
        known = set(ids)
        places = [i for i in self._place_ids(query, limit) if i not in known]
        return (ids + places)[:limit] if limit >= 0 else ids + places

    def _text_ranked_ids(
        self, query: KeywordQuery, limit: int, common_above: int | None
    ) -> list[int]:
        if self.dialect == "sqlite":
            narrowed = self.narrowed(query, common_above=common_above)
            if narrowed is None:
                return []
            query = narrowed
        expression = fts_any_words(query)
        if expression is None:
            return []
        if self.dialect == "postgresql":
            return self._postgres_ids(query, limit)
        required = fts_required(query)
        if required is not None:
            expression = f"({required}) AND ({expression})"
        return self._fts_ids(expression, limit)

    def hybrid_ids(
        self, query: KeywordQuery, limit: int, *, common_above: int | None = None
    ) -> tuple[list[int], float]:
        """The keyword half of hybrid mode, and the weight fusion gives it.

        Only the picture's own words count: names, descriptions, embedded keywords, recognised
        text and the user's tags, not automatic tags (the model's guess from the same embedding
        the semantic half ranks by: fusing them counts the model twice and lets a wrong tag lift
        a picture above a better match). Of the query's words, those that occur in the library
        at all must all appear (a sentence whose one common word a file name holds is no match
        for that file), and the weight is the share of the query's words that occur: "zebra"
        finding zebra.jpg weighs fully; a long caption of which one word is printed somewhere
        barely reorders the semantic ranking. On SQLite the index's vocabulary answers first:
        words it does not hold are not looked for, and words in more than ``common_above`` rows
        carry no bm25 weight, so they are left out of the words as well as of the weight."""
        words = (*query.words, *query.required_phrases)
        candidates = words
        if self.dialect == "sqlite" and words:
            frequencies = self._document_frequencies(query)
            if common_above is not None:
                words = tuple(w for w in words if frequencies.get(w, 0) <= common_above)
            candidates = tuple(
                w for w in words if all(frequencies.get(p, 1) > 0 for p in _phrase_words(w))
            )
        if not words:
            return [], 0.0
        occurring = tuple(word for word in candidates if self._own_words_hold(word))
        if not occurring:
            return [], 0.0
        every = KeywordQuery((), tuple(dict.fromkeys((*occurring, *query.required_phrases))))
        if self.dialect == "postgresql":
            ids = self._postgres_ids(every, limit, tag_sources=("manual",))
        else:
            expression = f"{FTS_COLUMNS_BUT_TAGS} : ({fts_required(every)})"
            ids = self._fts_ids(expression, limit)
            if len(every.required_phrases) == 1:
                ids += self._manual_tag_ids(every, set(ids))
        return ids[: limit if limit >= 0 else None], len(occurring) / len(words)

    def _own_words_hold(self, word: str) -> bool:
        """Whether any picture's own words (see :meth:`hybrid_ids`) hold ``word``."""
        single = KeywordQuery((), (word,))
        if self.dialect == "postgresql":
            return bool(self._postgres_ids(single, 1, tag_sources=("manual",)))
        expression = f"{FTS_COLUMNS_BUT_TAGS} : {_fts_string(word)}"
        return bool(self._fts_ids(expression, 1)) or bool(self._manual_tag_ids(single, set()))

    def _manual_tag_ids(self, query: KeywordQuery, known: set[int]) -> list[int]:
        """Images with a manual tag that is one of the query's words or phrases, by id."""
        names = [term.lower() for term in (*query.words, *query.required_phrases)]
        statement = (
            select(ImageTag.image_id)
            .where(ImageTag.source == "manual", func.lower(ImageTag.tag).in_(names))
            .distinct()
            .order_by(ImageTag.image_id)
        )
        required = self.ids_with_required_phrases(query)
        with Session(self.engine) as session:
            found = [i for i in session.scalars(statement) if i not in known]
        return [i for i in found if required is None or i in required]

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
        if self.narrowed(KeywordQuery((), query.required_phrases)) is None:
            return set()
        return set(self._fts_ids(required, -1))

    def narrowed(
        self, query: KeywordQuery, *, common_above: int | None = None
    ) -> KeywordQuery | None:
        """``query`` without the optional words the SQLite index does not hold (and those in
        more than ``common_above`` of its rows); None when nothing can match."""
        frequencies = self._document_frequencies(query)
        if any(
            any(frequencies.get(word, 1) == 0 for word in _phrase_words(phrase))
            for phrase in query.required_phrases
        ):
            return None
        words = tuple(
            word
            for word in query.words
            if frequencies.get(word, 1) > 0
            and (common_above is None or frequencies.get(word, 0) <= common_above)
        )
        if not words and not query.required_phrases:
            return None
        return KeywordQuery(words, query.required_phrases)

    def _document_frequencies(self, query: KeywordQuery) -> dict[str, int]:
        """Rows holding each checkable word (0: none). Words the vocabulary cannot answer for
        exactly (see :func:`vocabulary_term`) are left out: callers keep them as if present."""
        terms = {
            word: term
            for word in (
                *query.words,
                *(w for phrase in query.required_phrases for w in _phrase_words(phrase)),
            )
            if (term := vocabulary_term(word)) is not None
        }
        if not terms:
            return {}
        with Session(self.engine) as session:
            rows = session.execute(
                select(VOCABULARY.c.term, VOCABULARY.c.doc).where(
                    VOCABULARY.c.term.in_(sorted(set(terms.values())))
                )
            )
            found = {term: int(count) for term, count in rows}
        return {word: found.get(term, 0) for word, term in terms.items()}

    def _fts_ids(self, expression: str, limit: int) -> list[int]:
        with Session(self.engine) as session:
            rows = session.execute(FTS_RANKED, {"expression": expression, "limit": limit})
            return [row[0] for row in rows]

    def _postgres_ids(
        self, query: KeywordQuery, limit: int, tag_sources: tuple[str, ...] = ("auto", "manual")
    ) -> list[int]:
        search_text = search_text_table()
        document = search_text.c.search_text
        any_term = _ts_terms((*query.words, *query.required_phrases), "||")
        condition = _postgres_match(document, any_term, tag_sources)
        required = _ts_terms(query.required_phrases, "&&")
        if required is not None:
            condition = and_(condition, _postgres_match(document, required))
        statement = (
            select(search_text.c.id)
            .where(condition)
            .order_by(_postgres_rank(document, any_term, tag_sources).desc(), search_text.c.id)
        )
        if limit >= 0:
            statement = statement.limit(limit)
        with Session(self.engine) as session:
            return list(session.scalars(statement))


def _search_configuration() -> ColumnElement:
    from sqlalchemy.dialects.postgresql import REGCONFIG

    return literal(SEARCH_CONFIGURATION, type_=REGCONFIG)


def _postgres_rank(
    document: ColumnElement, query: ColumnElement, tag_sources: tuple[str, ...]
) -> ColumnElement:
    """How well an image matches ``query`` over every text :func:`_postgres_match` looks in (the
    image's own text, its description, recognised text and tags), as SQLite's FTS5 ranks one
    row holding them all: a match found only in a description must not rank as no match."""
    config, image_id = _search_configuration(), search_text_table().c.id

    def best(column: ColumnElement, owner: ColumnElement, *where: ColumnElement) -> ColumnElement:
        rank = func.max(func.ts_rank(func.to_tsvector(config, column), query))
        found = select(rank).where(owner == image_id, *where).scalar_subquery()
        return func.coalesce(found, 0.0)

    return (
        func.ts_rank(document, query)
        + best(ImageDescription.text, ImageDescription.image_id)
        + best(ImageText.text, ImageText.image_id)
        + best(ImageTag.tag, ImageTag.image_id, ImageTag.source.in_(tag_sources))
    )


def _postgres_match(
    document: ColumnElement,
    query: ColumnElement,
    tag_sources: tuple[str, ...] = ("auto", "manual"),
) -> ColumnElement:
    """Images whose own text, tags (of ``tag_sources``) or recognised text match ``query``
    (tags and text live in their own tables, matched through the same configuration)."""
    config = _search_configuration()
    tagged = select(ImageTag.image_id).where(
        func.to_tsvector(config, ImageTag.tag).op("@@")(query), ImageTag.source.in_(tag_sources)
    )
    written = select(ImageText.image_id).where(
        func.to_tsvector(config, ImageText.text).op("@@")(query)
    )
    described = select(ImageDescription.image_id).where(
        func.to_tsvector(config, ImageDescription.text).op("@@")(query)
    )
    return or_(
        document.op("@@")(query),
        search_text_table().c.id.in_(tagged),
        search_text_table().c.id.in_(written),
        search_text_table().c.id.in_(described),
    )
