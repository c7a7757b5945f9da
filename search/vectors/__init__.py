"""The FAISS cosine index: build (in stages), tune, persist (with a JSON sidecar), search."""
