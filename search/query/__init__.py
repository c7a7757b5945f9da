"""The query path: request -> query vector -> filters and keywords -> vector search -> rank and
fuse -> results."""
