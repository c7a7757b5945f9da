"""SigLIP / SigLIP2 models through the product, at seeded random weights: loading (a published tag
offline, a local checkpoint, the Hugging Face tokenizer from a folder), SigLIP's text cleaning
without torch, its "squash" preprocessing, ONNX towers that agree with torch, the sigmoid scale,
and indexing + search end to end.

The tiny model is SigLIP-shaped as open_clip builds ViT-B-16-SigLIP2: a timm ViT without a class
token and with attention-pool ("map") head, open_clip's bidirectional text tower read at the last
position, a logit bias, a Hugging Face tokenizer with SigLIP's "canonicalize" cleaning and an end
token appended (as T5's and Gemma's), and the published SigLIP preprocessing (squash, bicubic,
mean = std = 0.5) for its tag.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from click.testing import CliRunner
from conftest import write_pictures
from PIL import Image

from pixsift.cli.main import main
from pixsift.search.errors import TorchRequiredError, WeightsUnavailableError
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.pixels import PlannedPreprocess, pixel_plan_for
from pixsift.search.model.spec import Runtime
from pixsift.search.model.weights import resolve_weights

MODEL_NAME = "pixsift-test-tiny-siglip"
TIMM_NAME = "pixsift_test_tiny_siglip_vit"
TAG = "webli"
CORPUS = ["a red star", "a blue ring on a striped background", "two green squares", "a cat"]


def pixsift_test_tiny_siglip_vit(pretrained: bool = False, **kwargs: object) -> torch.nn.Module:
    """vit_base_patch16_siglip_224's construction at 32 px, width 32, two blocks."""
    from timm.models.vision_transformer import VisionTransformer

    args = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2,
            "class_token": False, "global_pool": "map"}  # fmt: skip
    dropped = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")  # timm's factory's own
    return VisionTransformer(**{**args, **{k: v for k, v in kwargs.items() if k not in dropped}})


def _register() -> None:
    import timm
    from open_clip import pretrained

    if TIMM_NAME not in timm.list_models(TIMM_NAME):
        timm.models.register_model(pixsift_test_tiny_siglip_vit)
    # A published tag as ViT-B-16-SigLIP2 has (weights on a hub repository that is never asked),
    # so a local checkpoint of this model gets SigLIP's preprocessing, as a real one does.
    published = dict(open_clip.get_pretrained_cfg("ViT-B-16-SigLIP2", TAG))
    pretrained._PRETRAINED[MODEL_NAME] = {TAG: {**published, "hf_hub": "pixsift-test/tiny-siglip/"}}


def _write_tokenizer(folder: Path) -> Path:
    """A SigLIP-like tokenizer folder (tokenizer.json + tokenizer_config.json, no config.json):
    Unigram pieces, an end token appended, padding id 0 (Gemma's)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=specials, unk_token="<unk>")
    tokenizer.train_from_iterator(CORPUS * 8, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def siglip_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tokenizer folder, checkpoint) of the tiny SigLIP, registered as MODEL_NAME."""
    _register()
    folder = _write_tokenizer(tmp_path_factory.mktemp("siglip-tokenizer"))
    config = {
        "embed_dim": 32,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": 32, "timm_model_name": TIMM_NAME,
                       "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
        "text_cfg": {"context_length": 16, "vocab_size": 120,
                     "hf_tokenizer_name": "pixsift-test/tiny-siglip",
                     "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 32, "heads": 2,
                     "layers": 2, "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                     "norm_kwargs": {"eps": 1e-6}, "act_kwargs": {"approximate": "tanh"}},
    }  # fmt: skip
    configs = tmp_path_factory.mktemp("siglip-config")
    (configs / f"{MODEL_NAME}.json").write_text(json.dumps(config))
    open_clip.add_model_config(configs)
    torch.manual_seed(0)
    model = open_clip.create_model(MODEL_NAME, pretrained=None)
    with torch.no_grad():  # a trained SigLIP's temperature and bias, not the initial ones
        model.logit_scale.fill_(np.log(117.3))
        model.logit_bias.fill_(-12.7)
    checkpoint = tmp_path_factory.mktemp("siglip-weights") / "tiny-siglip.pt"
    torch.save(model.state_dict(), checkpoint)
    return folder, checkpoint


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PIXSIFT_CACHE_DIR", str(tmp_path / "cache"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no network access is allowed here")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _spec(checkpoint: Path) -> ModelSpec:
    return ModelSpec(model_name=MODEL_NAME, pretrained=str(checkpoint))


def _load(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> OpenClipEmbedder:
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(files[0]))
    return OpenClipEmbedder.load(_spec(files[1]), device=torch.device("cpu"))


def test_a_published_siglip2_tag_offline_says_what_to_fetch(offline: None) -> None:
    with pytest.raises(WeightsUnavailableError) as caught:
        OpenClipEmbedder.load(ModelSpec("ViT-B-16-SigLIP2", TAG), device=torch.device("cpu"))
    message = caught.value.message
    assert "huggingface.co/timm/ViT-B-16-SigLIP2" in message and "--pretrained" in message
    assert "\n" not in message


def test_a_siglip2_checkpoint_without_its_tokenizer_names_the_tokenizer_to_fetch(
    offline: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PIXSIFT_TOKENIZER", raising=False)
    checkpoint = tmp_path / "open_clip_model.safetensors"
    checkpoint.write_bytes(b"not read: the tokenizer is checked first")
    with pytest.raises(WeightsUnavailableError) as caught:
        OpenClipEmbedder.load(
            ModelSpec("ViT-B-16-SigLIP2", str(checkpoint)), device=torch.device("cpu")
        )
    message = caught.value.message
    assert "https://huggingface.co/timm/ViT-B-16-SigLIP2" in message
    assert "--tokenizer" in message and "tokenizer.json" in message
    assert "config.json" not in message.replace("tokenizer_config.json", "")  # tokenizer only


def test_a_tokenizer_folder_without_config_json_is_enough_for_siglip(
    siglip_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not (siglip_files[0] / "config.json").exists()
    embedder = _load(siglip_files, monkeypatch)
    tokens = embedder.tokenizer(["A Red, STAR!", "a red star"]).numpy()
    # SigLIP's canonical cleaning: case and punctuation do not change the ids.
    np.testing.assert_array_equal(tokens[0], tokens[1])
    assert tokens.shape == (2, 16) and 1 in tokens[0].tolist() and 2 not in tokens[0].tolist()
    vectors = embedder.embed_texts(CORPUS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.patch_grid == 4  # 32 px / patch 8: explanations get the patch grid
    scale, bias = embedder.sigmoid_scale
    assert scale == pytest.approx(117.3, rel=1e-4) and bias == pytest.approx(-12.7, rel=1e-4)


def test_siglip_preprocessing_is_squash_and_the_torch_free_plan_reproduces_it(
    siglip_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, preprocessing, _ = resolve_weights(_spec(siglip_files[1]))
    assert preprocessing["resize_mode"] == "squash" and tuple(preprocessing["mean"]) == (0.5,) * 3
    embedder = _load(siglip_files, monkeypatch)
    plan = pixel_plan_for(embedder.preprocess)
    assert plan is not None and plan.resize_mode == "squash" and plan.size == 32
    rng = np.random.default_rng(3)
    wide = Image.fromarray(rng.integers(0, 255, (40, 100, 4), dtype=np.uint8), "RGBA")
    expected = embedder.preprocess(wide).numpy()
    np.testing.assert_allclose(PlannedPreprocess(plan)(wide), expected, atol=1e-6)
    # Squashed, not cropped: the picture's left and right edges are in the model's input.
    left_edge = np.asarray(wide.resize((32, 32), Image.Resampling.BICUBIC).convert("RGB"))
    np.testing.assert_allclose(expected[:, :, 0], (left_edge[:, 0].T / 255 - 0.5) / 0.5, atol=1e-5)


def test_onnx_towers_agree_with_torch_and_need_no_transformers(
    siglip_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch_embedder = _load(siglip_files, monkeypatch)
    onnx_embedder = load_embedder(_spec(siglip_files[1]), Runtime(backend="onnx"))
    assert isinstance(onnx_embedder, OnnxEmbedder)
    info = onnx_embedder.info
    assert info.text_input == "full_context"  # bidirectional: no real-tokens cut
    assert info.tokenizer is not None and info.tokenizer["clean"] == "canonicalize"
    assert info.pixels is not None and info.pixels["resize_mode"] == "squash"
    assert min(info.agreement.values()) >= 0.99999 and info.patch_grid == 4
    assert onnx_embedder.sigmoid_scale == pytest.approx(torch_embedder.sigmoid_scale, rel=1e-5)
    texts = [*CORPUS, "Two GREEN squares!!", "naïve café_au_lait"]
    np.testing.assert_array_equal(
        onnx_embedder.tokenizer(texts), torch_embedder.tokenizer(texts).numpy()
    )
    np.testing.assert_allclose(
        onnx_embedder.embed_texts(texts), torch_embedder.embed_texts(texts), atol=1e-4
    )
    pictures = [Image.fromarray(np.full((30, 50, 3), 40 * i, np.uint8)) for i in range(1, 4)]
    np.testing.assert_allclose(
        onnx_embedder.embed_images(pictures), torch_embedder.embed_images(pictures), atol=1e-4
    )


def test_a_missing_transformers_is_one_line_saying_what_to_install(
    siglip_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name)
    )
    with pytest.raises(TorchRequiredError) as caught:
        _load(siglip_files, monkeypatch)
    assert "pip install transformers" in caught.value.message
    assert "\n" not in caught.value.message


def test_index_and_search_end_to_end_with_onnx_towers(
    siglip_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, checkpoint = siglip_files
    pictures = tmp_path / "pictures"
    write_pictures(pictures, 6)
    monkeypatch.setenv("PIXSIFT_BACKEND", "onnx")
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(folder))
    library = ["--library", str(tmp_path / "library")]
    runner = CliRunner()
    model = ["--model", MODEL_NAME, "--pretrained", str(checkpoint)]
    result = runner.invoke(
        main, ["index", str(pictures), "--workers", "1", "--no-progress", *library, *model]
    )
    assert result.exit_code == 0, result.output
    assert "added 6" in result.output
    result = runner.invoke(
        main, ["search", "a red star", "-k", "3", "--mode", "semantic", "--json", *library]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and all(hit["absolute_path"].startswith(str(pictures)) for hit in hits)
    # The library records the model that built it: a later search needs no --model.
    torch_embedder = _load(siglip_files, monkeypatch)
    query = torch_embedder.embed_texts(["a red star"])[0]
    best = hits[0]["absolute_path"]
    image = torch_embedder.embed_images([Image.open(best).convert("RGB")])[0]
    assert hits[0]["score"] == pytest.approx(float(query @ image), abs=2e-3)
