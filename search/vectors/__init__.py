"""The FAISS cosine index, by stage: sidecar (what a published index is), index (VectorIndex and
its search), build (choose, build, update), tune (search parameters, recall), persist (checked
loads, atomic publishing under a lock), live (what searches read), writer (the one writer)."""
