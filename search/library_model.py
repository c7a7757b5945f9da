"""The model a library's vectors were made with: which one, at what precision, and the runtime a
process on the library loads it with. A library keeps one model and one precision for all its
vectors: a run that would mix them is refused before it writes anything.

Precision is that of the image tower, the one whose vectors are stored. On a CPU a new library
is embedded by int8 towers where they agree with the fp32 ones (about half the model's time; the
same retrieval on the small world, docs/benchmarks.md, section 38); a library made before
precision was recorded is taken as fp32, as it was built by default.
"""

from __future__ import annotations

from dataclasses import replace

from pixsift.search.errors import ModelMismatchError
from pixsift.search.model.loading import asked_precision, runtime_from_settings
from pixsift.search.model.protocol import Embedder, embedder_precision
from pixsift.search.model.spec import (
    DEFAULT_MODEL_NAME,
    ModelSpec,
    Runtime,
    default_pretrained,
    published_spec_of,
)
from pixsift.search.storage.store import LibraryStore

STATE_MODEL_NAME = "model_name"
STATE_PRETRAINED = "pretrained"
STATE_PREPROCESSING_TAG = "preprocessing_tag"
STATE_EMBEDDING_DIMENSION = "embedding_dimension"
#: "fp32" or "int8": the image towers that made the library's vectors (absent: made before this
#: was recorded, by fp32 towers unless the user asked for int8).
STATE_IMAGE_PRECISION = "image_precision"
#: "auto" embeds a new library with int8 towers only where their image vectors agree with
#: torch's fp32 ones to at least this cosine on the exporter's probes (random-weights ViT-B-32
#: 0.99984, the small world's model 0.99971, where int8 retrieves as fp32 does); a model further
#: off is embedded at fp32, as an explicit --quantize int8 never is.
INT8_AUTO_AGREEMENT = 0.999


def library_runtime(store: LibraryStore) -> Runtime:
    """How a process on the library runs its model: the backend and threads asked for, at the
    library's precision unless another is asked for. "auto" gives a new library int8 towers
    where they agree with fp32 (:data:`INT8_AUTO_AGREEMENT`; a GPU runs torch at fp32, recorded
    as such), a library that records int8 its int8 ONNX towers even where a GPU is found, and
    any other library fp32."""
    runtime = runtime_from_settings()
    asked, recorded = asked_precision(), store.get_state(STATE_IMAGE_PRECISION)
    if asked != "auto":
        return replace(runtime, quantize="int8" if asked == "int8" else None)
    if recorded == "int8":
        backend = "onnx" if runtime.backend == "auto" else runtime.backend
        return replace(runtime, backend=backend, quantize="int8")
    if recorded is None and store.model_id() is None:  # a new library
        return replace(runtime, quantize="int8", int8_floor=INT8_AUTO_AGREEMENT)
    return replace(runtime, quantize=None)


def library_model_spec(store: LibraryStore, requested: ModelSpec | None) -> ModelSpec:
    """The model to run: what the caller asked for, else what the library was built with."""
    stored_name = store.get_state(STATE_MODEL_NAME)
    stored_pretrained = store.get_state(STATE_PRETRAINED)
    if stored_name is None:  # vectors imported in bulk record only their model id
        stored_name, stored_pretrained = published_spec_of(store.model_id())
    name = (requested and requested.model_name) or stored_name or DEFAULT_MODEL_NAME
    # The stored weights go with the stored model only; another model named alone gets its own.
    own_pretrained = stored_pretrained if name == stored_name else None
    return ModelSpec(
        model_name=name,
        pretrained=(requested and requested.pretrained)
        or own_pretrained
        or default_pretrained(name),
        preprocessing_tag=(requested and requested.preprocessing_tag)
        or store.get_state(STATE_PREPROCESSING_TAG),
    )


def claim_library_model(store: LibraryStore, embedder: Embedder, spec: ModelSpec | None) -> None:
    """Make ``embedder`` the library's model and precision (its first vectors), or check that
    it is the library's. Raises ModelMismatchError before anything is written."""
    first = store.model_id() is None
    check_library_model(store, embedder.model_id, store.claim_model(embedder.model_id))
    precision, recorded = embedder_precision(embedder), store.get_state(STATE_IMAGE_PRECISION)
    if first and recorded is None:
        store.set_state(STATE_IMAGE_PRECISION, precision)
    elif recorded is not None and recorded != precision:
        raise ModelMismatchError(
            f"this library's pictures were embedded by {recorded} towers, and this run's "
            f"model is {precision}: index it with --quantize {recorded} (on a GPU, also "
            "--backend onnx), or into a new --library"
        )
    store.set_state(STATE_EMBEDDING_DIMENSION, str(embedder.dimension))
    if spec is not None:
        store.set_state(STATE_MODEL_NAME, spec.model_name)
        store.set_state(STATE_PRETRAINED, spec.pretrained)
        if spec.preprocessing_tag:
            store.set_state(STATE_PREPROCESSING_TAG, spec.preprocessing_tag)


def check_library_model(
    store: LibraryStore, model_id: str, library_model_id: str | None = None
) -> None:
    """Raise ModelMismatchError unless ``model_id`` made the library's vectors (or it has none)."""
    library_model_id = library_model_id or store.model_id()
    if library_model_id is not None and library_model_id != model_id:
        raise ModelMismatchError(
            f"this library was indexed with model {library_model_id}, not {model_id}; "
            "search with the same --model and --pretrained, or index into a new --library"
        )
