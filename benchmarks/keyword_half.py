"""The keyword half of a hybrid query on a large library, old path against new, interleaved in
one process on the same database: the old path ranks the FTS5 table for every query (and, with
a filter, every match); the new one reads the index's vocabulary first (search.query.keywords),
skips the table when no word can match, leaves out words found in most of the library and
reads a bounded list under a filter (search.query.engine).

Needs a library made by ``benchmarks.query_latency`` (its names are bulk-<id>.jpg):

    nice .venv/bin/python -m benchmarks.keyword_half \
        --library benchmarks/results/work/latency-1000000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import percentiles, print_table, write_results
from benchmarks.query_latency import query_texts

#: (label, query text, hybrid common-word cut (None: keyword mode), filter share or None)
CASES = (
    ("benchmark texts (numbers match names)", None, True, None),
    ("no word in the index", "sunset over the quiet harbour", True, None),
    ("a word in every name (jpg)", "jpg sunset", True, None),
    ("keyword mode, filtered 1%", "bulk", False, 0.01),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=20)
    arguments = parser.parse_args()

    from pixsift.search.library import Library
    from pixsift.search.query.engine import CANDIDATE_DEPTH, _keyword_ranking
    from pixsift.search.query.keywords import KeywordMatcher, fts_any_words, parse_keyword_query
    from pixsift.search.vectors.selection import Selection

    library = Library.open(arguments.library)
    matcher = KeywordMatcher(library.store.engine)
    count = library.vector_index().count
    rows, times = [], {}
    for label, text, hybrid, share in CASES:
        texts = query_texts(arguments.queries, seed=77) if text is None else [text] * 3
        allowed = None
        if share is not None:
            ids = np.arange(1, count + 1, int(1 / share), dtype=np.int64)
            allowed = Selection.of_ids(ids, total=count)
        old_ms, new_ms = [], []
        for query_text in texts:
            query = parse_keyword_query(query_text)
            started = time.perf_counter()
            # The old path: rank every match (all of them under a filter), then keep.
            expression = fts_any_words(query)
            ranked = matcher._fts_ids(expression, -1 if allowed is not None else CANDIDATE_DEPTH)
            if allowed is not None:
                kept = allowed.contains(np.asarray(ranked, dtype=np.int64))
                ranked = [i for i, k in zip(ranked, kept.tolist(), strict=True) if k]
            old_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            common = count // 2 if hybrid else None
            _keyword_ranking(library, query, allowed, CANDIDATE_DEPTH, common)
            new_ms.append((time.perf_counter() - started) * 1000)
        old, new = percentiles(old_ms)["p50"], percentiles(new_ms)["p50"]
        rows.append(
            {"case": label, "old_p50_ms": old, "new_p50_ms": new, "ratio": round(old / new, 1)}
        )
        times[label] = {"old_ms": old_ms, "new_ms": new_ms}
    library.close()
    print_table(rows, ["case", "old_p50_ms", "new_p50_ms", "ratio"])
    print(f"wrote {write_results('keyword_half', {'rows': rows, 'times': times})}")


if __name__ == "__main__":
    main()
