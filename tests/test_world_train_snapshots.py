"""benchmarks/world/train.py --save-every: a long run also leaves the weights it had after every
N steps, loadable like the final checkpoint, and they are exactly the model of that step."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from benchmarks.world import train

#: A very small sigmoid world model (32 px, one layer a tower), so that a few steps run in seconds.
SMALL = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1},
}
NAME = "pixsift-world-vit-sigmoid"


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """train() sets torch's thread count (its sums depend on it); give the test process its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, *extra: str) -> Path:
    config = tmp_path / "pixsift-world-vit.json"
    config.write_text(json.dumps(SMALL))
    argv = ["train", "--out", str(tmp_path / out), "--config", str(config), "--batch", "8",
            "--loss", "siglip", "--multi-positive", "--twins", "0.5", "--short-twins",
            "--warmup", "10", "--eval-scenes", "12", *extra]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    train.main()
    return tmp_path / out


def test_a_snapshot_is_the_model_after_that_many_steps(tmp_path: Path, monkeypatch) -> None:
    # Within the warm-up the learning rate of a step does not depend on the run's length, so the
    # first 2 steps of a 4-step run are exactly a 2-step run: its snapshot must be that model.
    long = _run(tmp_path, monkeypatch, "long", "--steps", "4", "--save-every", "2")
    short = _run(tmp_path, monkeypatch, "short", "--steps", "2")
    snapshot = long / "step-2"
    assert sorted(p.name for p in long.iterdir()) == [
        f"{NAME}.json", f"{NAME}.metrics.json", f"{NAME}.safetensors", "step-2"]  # fmt: skip
    saved, reference = (load_file(d / f"{NAME}.safetensors") for d in (snapshot, short))
    assert saved.keys() == reference.keys()
    assert all(torch.equal(saved[k], reference[k]) for k in saved)
    # ... and not the final one (4 steps): the snapshot really is an earlier model.
    final = load_file(long / f"{NAME}.safetensors")
    assert not torch.equal(final["visual.proj"], saved["visual.proj"])
    # Loadable as it stands: its config is the run's (with the sigmoid bias), beside it.
    assert (snapshot / f"{NAME}.json").read_text() == (long / f"{NAME}.json").read_text()
    report = json.loads((snapshot / f"{NAME}.metrics.json").read_text())
    assert report["steps_done"] == 2
    assert report["settings"]["steps"] == 4


def test_without_the_option_no_snapshot_is_written(tmp_path: Path, monkeypatch) -> None:
    out = _run(tmp_path, monkeypatch, "plain", "--steps", "2")
    assert not any(p.is_dir() for p in out.iterdir())


def test_init_starts_every_weight_from_the_checkpoint(tmp_path: Path, monkeypatch) -> None:
    # --lr 0: a step changes no weight (AdamW's decay is lr * 0.05 too), so the model saved is
    # the one it started from: with --init the first run's to the bit, without it a fresh one.
    # --swap-twins rides along: its batches train end to end.
    first = _run(tmp_path, monkeypatch, "first", "--steps", "2") / f"{NAME}.safetensors"
    again = _run(tmp_path, monkeypatch, "again", "--steps", "1", "--lr", "0", "--init",
                 str(first), "--swap-twins", "0.25")  # fmt: skip
    fresh = _run(tmp_path, monkeypatch, "fresh", "--steps", "1", "--lr", "0")
    reference = load_file(first)
    went_on, new = (load_file(d / f"{NAME}.safetensors") for d in (again, fresh))
    assert all(torch.equal(went_on[k], reference[k]) for k in reference)
    assert not torch.equal(new["visual.proj"], reference["visual.proj"])
    report = json.loads((again / f"{NAME}.metrics.json").read_text())
    assert report["settings"]["swap_twins"] == 0.25


def test_init_refuses_a_checkpoint_of_another_model(tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"visual.proj": torch.zeros(3, 3)}, str(other))
    with pytest.raises(SystemExit, match="not a checkpoint of this model"):
        _run(tmp_path, monkeypatch, "bad", "--steps", "1", "--init", str(other))


def test_swap_twins_need_multi_positive_labels(tmp_path: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps(SMALL))
    argv = ["train", "--out", str(tmp_path / "x"), "--config", str(config), "--loss", "siglip",
            "--swap-twins", "0.25"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        train.main()
    assert "--swap-twins needs --multi-positive" in capsys.readouterr().err
