"""A search reads each library fact (model, index generation, ...) from the database once, and
sees one index generation throughout; the next search sees what was indexed in between."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import write_pictures
from sqlalchemy import event

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest

OPTIONS = IndexingOptions(batch_size=8, workers=1, show_progress=False)
EVERY = SearchRequest((QueryTerm(text="a photo"),), k=50, stacks=False, weaker=True)


def fact_reads(library: Library) -> Counter[str]:
    """The library facts read from the database (by key) from now on."""
    reads: Counter[str] = Counter()

    def count(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "FROM library_state" in statement and "library_state.value" in statement:
            reads[repr(parameters)] += 1  # the key asked for

    event.listen(library.store.engine, "before_cursor_execute", count)
    return reads


def test_a_search_reads_each_fact_once_and_the_next_one_sees_new_pictures(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_pictures(first, 3)
    write_pictures(second, 2, first_seed=10)
    Indexer(library, tiny_embedder, OPTIONS).index([first])
    reads = fact_reads(library)
    assert len(library.find(EVERY).hits) == 3
    assert reads and max(reads.values()) == 1, reads  # each fact once (hybrid mode, all stages)
    Indexer(library, tiny_embedder, OPTIONS).index([second])
    assert len(library.find(EVERY).hits) == 5  # nothing remembered from the last search
