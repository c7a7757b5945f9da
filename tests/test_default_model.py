"""The default model is ViT-B-32-SigLIP2-256 (webli) for new libraries; a library keeps the model
that built it (ViT-B-32 for every library built before the switch), whether its vectors came from
indexing or a bulk import; offline, the default says in one line every file to fetch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DatabaseFactory, reopen
from test_siglip import offline  # noqa: F401 (fixture)

from pixsift.search.errors import WeightsUnavailableError
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.model.spec import published_spec_of, requested_model_spec
from pixsift.search.records import l2_normalise

NEW = ModelSpec("ViT-B-32-SigLIP2-256", "webli")
BEFORE = ModelSpec("ViT-B-32", "laion2b_s34b_b79k")


def test_a_new_library_gets_siglip2(tmp_path: Path, new_database_url: DatabaseFactory) -> None:
    assert ModelSpec() == NEW
    with Library.open(tmp_path / "library", database_url=new_database_url()) as library:
        assert library.model_spec() == NEW


def test_a_library_indexed_with_vit_b_32_keeps_opening_with_it(library: Library) -> None:
    library.claim_model(library.embedder, BEFORE)  # what the first indexing run records
    with reopen(library) as again:
        assert again.model_spec() == BEFORE
    # Asked for by name without weights, the previous default gets its own weights.
    assert requested_model_spec("ViT-B-32", None, None) == BEFORE
    assert requested_model_spec("ViT-B-32-SigLIP2-256", None, None) == NEW


def test_weights_named_alone_are_for_the_library_s_own_model(
    library: Library, tmp_path: Path, new_database_url: DatabaseFactory
) -> None:
    """`--pretrained FILE` without `--model` means the model that built the library (every
    library built before the switch is ViT-B-32), and the default's in a new library."""
    weights = str(tmp_path / "fine-tuned.safetensors")
    library.claim_model(library.embedder, BEFORE)
    with reopen(library, model_spec=requested_model_spec(None, weights, None)) as again:
        assert again.model_spec() == ModelSpec("ViT-B-32", weights)
    # Only a preprocessing tag asked for: the library's model and weights stay.
    with reopen(library, model_spec=requested_model_spec(None, None, "openai")) as again:
        assert again.model_spec() == ModelSpec("ViT-B-32", "laion2b_s34b_b79k", "openai")
    # Another model named alone gets its own published weights, not the library's.
    with reopen(
        library, model_spec=requested_model_spec("ViT-B-32-SigLIP2-256", None, None)
    ) as again:
        assert again.model_spec() == NEW
    with Library.open(
        tmp_path / "new",
        database_url=new_database_url(),
        model_spec=requested_model_spec(None, weights, None),
    ) as new:
        assert new.model_spec() == ModelSpec("ViT-B-32-SigLIP2-256", weights)


def test_bulk_imported_vectors_keep_their_model(library: Library) -> None:
    vectors = l2_normalise(np.random.default_rng(0).normal(size=(3, 32)))
    library.import_vectors(vectors, model_id="ViT-B-32:laion2b_s34b_b79k")
    with reopen(library) as again:
        assert again.model_spec() == BEFORE
    assert published_spec_of("ViT-B-32:sha256-0123456789abcdef") == (None, None)
    assert published_spec_of("immich:sha256-0123456789abcdef") == (None, None)


def test_the_default_offline_names_its_weights_and_tokenizer(offline: None) -> None:  # noqa: F811
    with pytest.raises(WeightsUnavailableError) as caught:
        OpenClipEmbedder.load(ModelSpec(), device=torch.device("cpu"))
    message = caught.value.message
    assert "\n" not in message
    assert "https://huggingface.co/timm/ViT-B-32-SigLIP2-256" in message
    assert "open_clip_model.safetensors" in message and "--pretrained" in message
    assert "tokenizer.json and tokenizer_config.json" in message and "--tokenizer" in message
