"""Label embeddings: each label's prompts embedded by the library's model, averaged (prompt
ensembling) and normalised; computed once per model and vocabulary and kept in the cache folder
(it is made again if lost)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from pixsift.search.model.protocol import Embedder
from pixsift.search.records import EmbeddingMatrix, l2_normalise
from pixsift.search.tags.vocabulary import Vocabulary

#: Texts per call to the text tower.
PROMPT_BATCH = 256


def label_cache_path(cache_directory: Path, model_id: str, vocabulary: Vocabulary) -> Path:
    model_key = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:16]
    return cache_directory / "tag-labels" / f"{model_key}-{vocabulary.digest}.npy"


def ensemble_label_embeddings(embedder: Embedder, vocabulary: Vocabulary) -> EmbeddingMatrix:
    """One row per label: the normalised mean of its prompts' embeddings."""
    prompts = [prompt for label in vocabulary.labels for prompt in vocabulary.prompts(label)]
    parts = [
        embedder.embed_texts(prompts[start : start + PROMPT_BATCH])
        for start in range(0, len(prompts), PROMPT_BATCH)
    ]
    per_prompt = np.concatenate(parts).reshape(len(vocabulary.labels), -1, parts[0].shape[1])
    return l2_normalise(per_prompt.mean(axis=1))


def label_embeddings(
    embedder: Embedder, vocabulary: Vocabulary, cache_directory: Path
) -> EmbeddingMatrix:
    """The cached label embeddings of ``embedder``'s model, computed on the first call."""
    path = label_cache_path(cache_directory, embedder.model_id, vocabulary)
    try:
        cached = np.load(path)
        if cached.shape == (len(vocabulary.labels), embedder.dimension):
            return cached.astype(np.float32)
    except (OSError, ValueError):
        pass  # missing or unreadable: made again below
    matrix = ensemble_label_embeddings(embedder, vocabulary)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a concurrent reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npy")
    with os.fdopen(handle, "wb") as file:
        np.save(file, matrix)
    os.replace(temporary, path)
    return matrix
