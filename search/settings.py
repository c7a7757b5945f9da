"""Settings shared by the CLI, the web app and the Python API, each declared once."""

from __future__ import annotations

import os
from dataclasses import dataclass

# SigLIP2 at ViT-B-32 compute: the best text-to-image retrieval per second of the candidates
# measured here (README, "Choosing the default model"). New libraries only: a library keeps the
# model that built it.
DEFAULT_MODEL_NAME = "ViT-B-32-SigLIP2-256"
DEFAULT_PRETRAINED = "webli"
#: The weights a model named without --pretrained gets: the default's own, and for the
#: previous default (ViT-B-32, the model of every library built before the switch) its tag.
PRETRAINED_OF_MODEL = {
    DEFAULT_MODEL_NAME: DEFAULT_PRETRAINED,
    "ViT-B-16-SigLIP2": "webli",
    "ViT-B-32": "laion2b_s34b_b79k",
}
#: Any other model named without --pretrained (as before the switch).
FALLBACK_PRETRAINED = "laion2b_s34b_b79k"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | int | None
    help: str
    environment_variable: str

    def value(self) -> str | int | None:
        """The environment's value if set, else the default."""
        raw = os.environ.get(self.environment_variable)
        if raw is None or raw == "":
            return self.default
        return type(self.default)(raw) if isinstance(self.default, int) else raw


LIBRARY = Setting(
    "library",
    None,
    "Library directory holding the database and the vector index "
    "(default: the platform's user data folder, e.g. ~/.local/share/pixsift).",
    "PIXSIFT_LIBRARY",
)
DATABASE_URL = Setting(
    "database_url",
    None,
    "SQLAlchemy database URL, e.g. postgresql+psycopg://user@host/pixsift "
    "(default: SQLite inside the library directory).",
    "PIXSIFT_DATABASE_URL",
)
MODEL = Setting(
    "model",
    None,
    f"open_clip model name (default: the library's model, or {DEFAULT_MODEL_NAME} for a new one).",
    "PIXSIFT_MODEL",
)
PRETRAINED = Setting(
    "pretrained",
    None,
    "open_clip pretrained tag (downloaded once) or path of a local checkpoint file "
    f"(default: the library's, or {DEFAULT_PRETRAINED} for a new one).",
    "PIXSIFT_PRETRAINED",
)
PREPROCESSING_TAG = Setting(
    "preprocessing_tag",
    None,
    "With a local checkpoint: the published tag whose preprocessing it was trained with.",
    "PIXSIFT_PREPROCESSING_TAG",
)
TOKENIZER = Setting(
    "tokenizer",
    None,
    "For a model whose text tower comes from Hugging Face (xlm-roberta-base-ViT-B-32, "
    "nllb-clip-base): a folder holding its tokenizer (tokenizer.json, tokenizer_config.json) and "
    "config.json, so that it loads without the hub (default: the Hugging Face cache or hub).",
    "PIXSIFT_TOKENIZER",
)
CACHE_DIRECTORY = Setting(
    "cache_directory",
    None,
    "Folder for what pixsift can make again: exported ONNX towers, checkpoint hashes "
    "(default: the platform's user cache folder, e.g. ~/.cache/pixsift).",
    "PIXSIFT_CACHE_DIR",
)
BACKEND = Setting(
    "backend",
    "auto",
    'How to run the model: "auto" (ONNX Runtime towers on a CPU, torch on a CUDA GPU), "torch", '
    'or "onnx" (ONNX Runtime towers, exported from torch once, checked against it and cached).',
    "PIXSIFT_BACKEND",
)
QUANTIZE = Setting(
    "quantize",
    "auto",
    'The precision of the towers that embed pictures. "auto": a new library on a CPU is embedded '
    "by int8 towers (about half the model's time, the same retrieval on the small world: "
    'docs/benchmarks.md, section 38), a library keeps the precision it was made with; "fp32" or '
    '"int8" ask for one (a library refuses to mix them). The library records its precision.',
    "PIXSIFT_QUANTIZE",
)
QUERY_TOWER = Setting(
    "query_tower",
    "auto",
    'The text tower text queries run on a CPU. "auto": an int8 copy of the fp32 tower (made '
    "beside it at export), about a quarter of the tower's CPU time per query, the same retrieval "
    "on the small world (docs/benchmarks.md, section 35); fp32 where the copy cannot be made. "
    '"int8": the copy or an error; "fp32": the exported tower. Image vectors are always fp32.',
    "PIXSIFT_QUERY_TOWER",
)
INDEX_MEMORY_BUDGET = Setting(
    "index_memory_budget",
    "4G",
    "Memory the vector index may take (bytes, or with K/M/G/T): beyond it, the automatic index "
    "keeps compressed (PQ) codes in memory and re-ranks from a memory-mapped float16 store, and "
    "index builds stream the vectors in stages instead of loading them.",
    "PIXSIFT_INDEX_MEMORY_BUDGET",
)
BACKGROUND_TAGGING = Setting(
    "background_tagging",
    1,
    "1: when the tag labels of the library's model are not cached yet, pixsift index publishes "
    "the index and tags in a background child (pixsift tags update); 0: it tags before it ends.",
    "PIXSIFT_BACKGROUND_TAGGING",
)
MATCH_PROBABILITY = Setting(
    "match_probability",
    "0.95",
    "With a sigmoid-trained model (SigLIP, SigLIP2), a text query's list also keeps the "
    "pictures the model gives at least this probability of matching, beside those that stand "
    "out from what the query scores across the library; 'off': only those. Chosen on the small "
    "world (docs/benchmarks.md, section 43): there it keeps 0.50 of a two-word text's true "
    "scenes where the calibration alone keeps 0.35, at the same precision. Real SigLIP models "
    "rarely give 0.95 (docs/evaluation.md): lower it to let the probability add more.",
    "PIXSIFT_MATCH_PROBABILITY",
)
ALL_SETTINGS = (
    LIBRARY, DATABASE_URL, MODEL, PRETRAINED, PREPROCESSING_TAG, TOKENIZER, CACHE_DIRECTORY,
    BACKEND, QUANTIZE, INDEX_MEMORY_BUDGET,
)  # fmt: skip

#: Indexing settings (the CLI's ``pixsift index`` reads them; the web app does not).
VIDEO_INTERVAL = Setting(
    "video_interval",
    10,
    "Videos: the longest time, in seconds, between two sampled moments (scene changes are "
    "sampled too).",
    "PIXSIFT_VIDEO_INTERVAL",
)

THUMBNAILS = Setting(
    "thumbnails",
    "256,512",
    "Sizes (long side, pixels) of the thumbnails and previews pixsift index makes from each new "
    "picture while it decodes it, out of 256, 512, 768 (the cards, 1x-3x screens) and 1600 (the "
    "viewer's preview); 'off' makes none. The server makes a size not made here on its first "
    "view and keeps it. The default makes what a first results page asks for on phones and on "
    "1x-2x screens (docs/thumbnails.md).",
    "PIXSIFT_THUMBNAILS",
)

#: Where ``pixsift models import`` and ``download`` keep model packs (``--model NAME`` finds them).
MODELS_DIRECTORY = Setting(
    "models_directory",
    None,
    "Folder of imported model packs, each in a folder named like the pack "
    "(default: the platform's user data folder, e.g. ~/.local/share/pixsift/models).",
    "PIXSIFT_MODELS_DIR",
)
RAY_CONNECT_TIMEOUT = Setting(
    "ray_connect_timeout",
    30,
    "Ray: seconds to wait for the --ray address to accept a connection before giving up.",
    "PIXSIFT_RAY_CONNECT_TIMEOUT",
)
ORT_GRAPH_OPTIMIZATION = Setting(
    "ort_graph_optimization",
    "all",
    'ONNX Runtime graph optimisations: "all" (its default), "extended", "basic" or "disable" '
    "(the towers' results then differ from the default only by float rounding).",
    "PIXSIFT_ORT_GRAPH_OPTIMIZATION",
)
CAPTION_MODEL = Setting(
    "caption_model",
    "coca_ViT-B-32",
    "open_clip CoCa model that describes pictures (--describe): a registry name or the path of "
    "a CoCa config file.",
    "PIXSIFT_CAPTION_MODEL",
)
CAPTION_PRETRAINED = Setting(
    "caption_pretrained",
    "mscoco_finetuned_laion2b_s13b_b90k",
    "The captioner's weights: an open_clip pretrained tag (downloaded once) or the path of a "
    "local checkpoint file.",
    "PIXSIFT_CAPTION_PRETRAINED",
)
