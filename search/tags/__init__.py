"""Zero-shot tags: a curated vocabulary, its prompt-ensembled label embeddings, and tagging as
one matrix product over the stored image embeddings, calibrated on the library's own scores."""
