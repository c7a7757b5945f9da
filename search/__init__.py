"""pixsift search core: embedder, store, vector index and query engine (no Flask)."""
