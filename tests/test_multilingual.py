"""A model whose text tower is a Hugging Face transformer (as open_clip's multilingual
xlm-roberta-base-ViT-B-32), loaded from local files alone: a tiny XLM-RoBERTa text tower with
random weights, and a Unigram tokenizer trained here with ``tokenizers``. HF_HUB_OFFLINE=1 and a
socket that refuses every connection prove the hub is never asked."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from click.testing import CliRunner

from pixsift.cli.main import main
from pixsift.search.errors import WeightsUnavailableError
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.model.export import TowerExportRejectedError
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.spec import Runtime

MODEL_NAME = "pixsift-test-multilingual"
CORPUS = [
    "a photo of a dog on the beach",
    "una foto de un perro en la playa",
    "une photo d'un chien sur la plage",
    "ein Foto eines Hundes am Strand",
    "砂浜にいる犬の写真",
    "фотография собаки на пляже",
]


def _write_tokenizer_folder(folder: Path) -> Path:
    """What a user downloads from the hub for the text tower: tokenizer files and config.json."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=150, special_tokens=specials, unk_token="<unk>")
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>",
    )  # fmt: skip
    fast.save_pretrained(folder)
    XLMRobertaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def multilingual_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tokenizer folder, checkpoint) of a tiny model registered as MODEL_NAME, whose config
    names a hub repository that does not exist, as the real ones name theirs."""
    folder = _write_tokenizer_folder(tmp_path_factory.mktemp("tokenizer"))
    configs = tmp_path_factory.mktemp("multilingual-config")
    text_cfg = {
        "hf_model_name": "pixsift-test/tiny-xlm-roberta",
        "hf_tokenizer_name": "pixsift-test/tiny-xlm-roberta",
        "hf_pooler_type": "mean_pooler",
    }
    config = {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "patch_size": 8,
            "head_width": 16,
        },
        "text_cfg": text_cfg,
    }
    (configs / f"{MODEL_NAME}.json").write_text(json.dumps(config))
    open_clip.add_model_config(configs)
    torch.manual_seed(0)
    local = {**text_cfg, "hf_model_name": str(folder), "hf_tokenizer_name": str(folder)}
    model = open_clip.create_model(MODEL_NAME, text_cfg={**local, "hf_model_pretrained": False})
    checkpoint = tmp_path_factory.mktemp("multilingual-weights") / "multilingual.pt"
    torch.save(model.state_dict(), checkpoint)
    return folder, checkpoint


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no network access is allowed here")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _spec(checkpoint: Path) -> ModelSpec:
    return ModelSpec(model_name=MODEL_NAME, pretrained=str(checkpoint))


def test_loads_from_a_checkpoint_and_a_tokenizer_folder_alone(
    multilingual_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, checkpoint = multilingual_files
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(folder))
    embedder = OpenClipEmbedder.load(_spec(checkpoint), device=torch.device("cpu"))
    vectors = embedder.embed_texts(CORPUS[:3])
    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The tokenizer is the folder's: Spanish text gets its trained pieces, not unknowns.
    tokens = embedder.tokenizer(["una foto de un perro"])[0].tolist()
    assert tokens[0] == 0 and 2 in tokens and 3 not in tokens  # <s> ... </s>, no <unk>


def test_without_the_tokenizer_folder_the_error_says_what_to_fetch(
    multilingual_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIXSIFT_TOKENIZER", raising=False)
    with pytest.raises(WeightsUnavailableError) as caught:
        OpenClipEmbedder.load(_spec(multilingual_files[1]), device=torch.device("cpu"))
    message = caught.value.message
    assert "https://huggingface.co/pixsift-test/tiny-xlm-roberta" in message
    assert "--tokenizer" in message and "PIXSIFT_TOKENIZER" in message


def test_a_folder_without_config_json_is_named_in_the_error(
    multilingual_files: tuple[Path, Path],
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "tokenizer-only"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes((multilingual_files[0] / "tokenizer.json").read_bytes())
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(folder))
    with pytest.raises(WeightsUnavailableError, match=r"has no config\.json"):
        OpenClipEmbedder.load(_spec(multilingual_files[1]), device=torch.device("cpu"))


def test_cli_tokenizer_option_reports_a_missing_folder_in_one_line(
    multilingual_files: tuple[Path, Path],
    offline: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The group's options are written to the environment: restored after the test.
    monkeypatch.setenv("PIXSIFT_BACKEND", "torch")
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(
        main,
        [
            "--backend", "torch", "--tokenizer", str(tmp_path / "nowhere"),
            "index", str(tmp_path), "--library", str(tmp_path / "library"),
            "--model", MODEL_NAME, "--pretrained", str(multilingual_files[1]),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "nowhere is not a folder" in result.output and "--tokenizer" in result.output


def test_onnx_towers_with_a_torch_free_tokenizer_agree_with_torch(
    multilingual_files: tuple[Path, Path], offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, checkpoint = multilingual_files
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(folder))
    torch_embedder = OpenClipEmbedder.load(_spec(checkpoint), device=torch.device("cpu"))
    onnx_embedder = load_embedder(_spec(checkpoint), Runtime(backend="onnx"))
    assert isinstance(onnx_embedder, OnnxEmbedder)
    assert onnx_embedder.info.tokenizer is not None
    assert onnx_embedder.info.tokenizer["kind"] == "hf"
    # Token for token as open_clip's HFTokenizer, without torch or transformers.
    np.testing.assert_array_equal(
        onnx_embedder.tokenizer(CORPUS), torch_embedder.tokenizer(CORPUS).numpy()
    )
    np.testing.assert_allclose(
        onnx_embedder.embed_texts(CORPUS), torch_embedder.embed_texts(CORPUS), atol=1e-4
    )


def test_a_tower_the_exporter_cannot_trace_falls_back_to_torch_with_a_reason(
    multilingual_files: tuple[Path, Path],
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    folder, checkpoint = multilingual_files
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(folder))
    monkeypatch.setenv("PIXSIFT_CACHE_DIR", str(tmp_path / "cache"))

    def untraceable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported operator aten::something")

    monkeypatch.setattr(torch.onnx, "export", untraceable)
    with caplog.at_level("WARNING"):
        embedder = load_embedder(_spec(checkpoint), Runtime(backend="auto"))
    assert isinstance(embedder, OpenClipEmbedder)
    assert "ONNX export" in caplog.text and "aten::something" in caplog.text
    with pytest.raises(TowerExportRejectedError, match="using torch"):
        load_embedder(_spec(checkpoint), Runtime(backend="onnx"))


def test_a_config_json_without_model_type_is_one_line_naming_it(
    multilingual_files: tuple[Path, Path],
    offline: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A config.json that is not the text model's own (here: no model_type) ended `pixsift
    index` in a transformers traceback."""
    folder = tmp_path / "wrong-config"
    folder.mkdir()
    for file in multilingual_files[0].iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    del config["model_type"]
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("PIXSIFT_BACKEND", "torch")
    monkeypatch.setenv("PIXSIFT_TOKENIZER", str(folder))
    result = CliRunner().invoke(
        main,
        [
            "--backend", "torch", "--tokenizer", str(folder), "index", str(tmp_path),
            "--library", str(tmp_path / "library"), "--model", MODEL_NAME,
            "--pretrained", str(multilingual_files[1]), "--no-progress",
        ],
    )  # fmt: skip
    lines = result.output.strip().splitlines()
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "config.json" in lines[0] and "model_type" in lines[0] and "--tokenizer" in lines[0]
