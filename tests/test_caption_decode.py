"""Greedy decoding with a key/value cache (search.caption.decode) chooses exactly the words that
the full forward of open_clip's CoCa chooses (today's uncached path), on the committed world
captioner and on the real coca_ViT-B-32 architecture at seeded random weights."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest
import torch

from benchmarks.caption_speed import pictures, random_captioner
from benchmarks.world.render import render
from benchmarks.world.scenes import scenes
from pixsift.search.caption.coca import CocaCaptioner
from pixsift.search.caption.decode import (
    CocaCache,
    SpecialTokens,
    cache_supported,
    greedy,
    greedy_cached,
    greedy_uncached,
)
from pixsift.search.caption.decode_onnx import (
    OnnxCache,
    export_decoder_step,
    greedy_onnx,
    onnx_session,
)
from pixsift.search.caption.protocol import CaptionerSpec

WORLD = Path(__file__).parent / "data/world"
HELD_OUT_SEED = 2_026_1219_32  # the captioner trained on seed 0's scenes


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the answers do not depend on it, and on a busy 2-core machine two
    threads that wait on each other make these decodes tens of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world() -> tuple[CocaCaptioner, torch.Tensor]:
    """The committed world captioner and 40 held-out scenes, preprocessed."""
    captioner = CocaCaptioner.load(
        CaptionerSpec(
            str(WORLD / "pixsift-world-coca.json"), str(WORLD / "pixsift-world-coca.safetensors")
        )
    )
    images = [render(scene) for scene in scenes(HELD_OUT_SEED, 40)]
    return captioner, torch.stack([captioner.preprocess(image) for image in images])


def teacher_forced_logits(model: torch.nn.Module, pixels: torch.Tensor, tokens: torch.Tensor):
    """(the full forward's logits, the cache's logits) at every position of ``tokens``."""
    with torch.inference_mode():
        _, image_tokens = model._encode_image(pixels)
        full = model.text_decoder(image_tokens, model._encode_text(tokens)[1])
        cache = CocaCache(model, image_tokens)
        stepped = torch.stack([cache.step(tokens[:, i]) for i in range(tokens.shape[1])], 1)
    return full, stepped


def test_world_captioner_cached_decoding_chooses_the_same_words(world) -> None:
    captioner, pixels = world
    assert cache_supported(captioner.model)
    special, limit = captioner.special, captioner.max_tokens
    cached = greedy_cached(captioner.model, pixels, special, limit)
    assert cached == greedy_uncached(captioner.model, pixels, special, limit)
    # Rows end at different steps, so rows leave the batch (and its caches) while others run.
    assert len({len(ids) for ids in cached}) >= 3 and min(len(ids) for ids in cached) >= 4
    assert captioner.generate(pixels) == cached
    assert all(len(ids) < limit for ids in cached)  # every description ended on its own


def test_world_captioner_cached_logits_match_the_full_forward(world) -> None:
    captioner, pixels = world
    ids = greedy_cached(captioner.model, pixels[:8], captioner.special, captioner.max_tokens)
    length = min(len(row) for row in ids)
    tokens = torch.tensor([[captioner.special.start, *row[:length]] for row in ids])
    full, stepped = teacher_forced_logits(captioner.model, pixels[:8], tokens)
    assert full.abs().amax() > 5  # logits that a wrong cache would visibly change
    torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


def test_coca_vit_b_32_cached_decoding_matches_the_full_forward() -> None:
    captioner = random_captioner()
    model, special = captioner.model, captioner.special
    pixels = torch.stack([captioner.preprocess(image) for image in pictures(3)])
    assert cache_supported(model)
    cached = greedy_cached(model, pixels, special, 8)
    assert cached == greedy_uncached(model, pixels, special, 8)
    assert all(len(ids) == 8 for ids in cached)  # random weights never choose the end
    # Random weights repeat one word; seeded random sentences check every position's logits.
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(1000, 40000, (3, 8), generator=generator)
    tokens[:, 0] = special.start
    full, stepped = teacher_forced_logits(model, pixels, tokens)
    torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


def test_a_tower_the_cache_cannot_follow_is_decoded_without_it(tmp_path: Path) -> None:
    config = json.loads((WORLD / "pixsift-world-coca.json").read_text())
    config["text_cfg"].pop("hf_tokenizer_name")
    config["text_cfg"]["no_causal_mask"] = True  # every token sees the later ones
    path = tmp_path / "pixsift-test-bidirectional-coca.json"
    path.write_text(json.dumps(config))
    open_clip.add_model_config(path)
    torch.manual_seed(0)
    model = open_clip.create_model(path.stem, pretrained=None).eval()
    torch.nn.init.normal_(model.text_decoder.text_projection, std=0.5)
    side = config["vision_cfg"]["image_size"]
    pixels = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    assert not cache_supported(model)
    special = SpecialTokens(start=1, end=2, pad=0)
    assert greedy(model, pixels, special, 6) == greedy_uncached(model, pixels, special, 6)
    # The cache would be wrong here: a token's output changes with the tokens after it.
    tokens = torch.tensor([[1, 5, 9, 7], [1, 8, 3, 6]])
    full, stepped = teacher_forced_logits(model, pixels, tokens)
    assert not torch.allclose(stepped[:, :-1], full[:, :-1], atol=1e-2)


def test_the_onnx_decoder_step_chooses_the_words_torch_chooses(world, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")  # the exporter
    captioner, pixels = world
    model, special = captioner.model, captioner.special
    path = tmp_path / "step.onnx"
    export_decoder_step(model, path)
    session = onnx_session(path)
    ids = greedy_onnx(session, model, pixels, special, captioner.max_tokens)
    assert ids == greedy_cached(model, pixels, special, captioner.max_tokens)
    with torch.inference_mode():
        _, image_tokens = model._encode_image(pixels[:4])
        torch_cache, onnx_cache = (
            CocaCache(model, image_tokens),
            OnnxCache(session, model, image_tokens),
        )
        tokens = torch.tensor([[special.start, *row[:5]] for row in ids[:4]])
        for position in range(tokens.shape[1]):
            expected = torch_cache.step(tokens[:, position])
            torch.testing.assert_close(
                onnx_cache.step(tokens[:, position]), expected, atol=1e-4, rtol=1e-4
            )
