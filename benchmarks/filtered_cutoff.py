"""Why a narrow filter's pages come back empty on the 1M benchmark library: the 0.01 % path
glob's 40 texts (the ones benchmarks.query_latency sends for that row), each with and without
``weaker``, the best relevance among the filter's 100 images, and the filtered top 10 against
brute force over those 100 (docs/benchmarks.md, section 28).

    nice -n 5 .venv/bin/python -m benchmarks.filtered_cutoff
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks.common import WORK, load_served_embedder
from benchmarks.query_latency import query_texts


def main() -> None:
    from pixsift.search.library import Library
    from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest

    embedder, _ = load_served_embedder()
    library = Library.open(WORK / "latency-1000000", embedder=embedder)
    filters = SearchFilters(path="bulk-*0000.jpg")
    ids = list(range(10_000, 1_000_001, 10_000))
    stored = library.store.embeddings_for(ids, library.store.model_id() or "")
    matrix = np.stack([stored[i] for i in ids])
    empty, best, full, exact = 0, [], 0, 0
    # The texts that row sends: 4 rounds of 10, client seed (1000 + round * 16 + 5) * 100.
    texts = [text for r in range(4) for text in query_texts(10, (1000 + r * 16 + 5) * 100)]
    for text in texts:
        terms = (QueryTerm(text=text),)
        strict = library.find(SearchRequest(terms, filters=filters, k=10))
        weak = library.find(SearchRequest(terms, filters=filters, k=10, weaker=True))
        semantic = library.find(
            SearchRequest(terms, filters=filters, k=10, weaker=True, mode="semantic")
        )
        brute = [ids[i] for i in np.argsort(-(matrix @ embedder.embed_texts([text])[0]))[:10]]
        empty += not strict.hits
        full += len(weak.hits) == 10
        best.append(round(max(hit.relevance or 0.0 for hit in weak.hits), 2))
        exact += [hit.id for hit in semantic.hits] == brute
    library.close()
    figures = {"texts": len(texts), "empty_by_default": empty, "full_with_weaker": full}
    figures |= {"top10_equal_brute_force": exact, "best_relevance": sorted(best)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
