"""Train a small open_clip CLIP on the world, on CPU, reproducibly: open_clip's own model
(built from tests/data/world/pixsift-world-vit.json), its training transform and its ClipLoss
(or SigLipLoss with ``--loss siglip``). Scenes are drawn fresh for every batch from the seed, so
the model never sees the same picture twice and never sees a held-out colour-shape pair.

    nice -n -10 .venv/bin/python -m benchmarks.world.train --out tests/data/world --seed 0

Writes ``<config stem>.safetensors`` (fp16) next to a copy of the config, and
``<config stem>.metrics.json`` (settings, time, loss, held-out recall).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from safetensors.torch import save_file

from benchmarks.world.render import render
from benchmarks.world.scenes import caption_variants, iter_scenes, scenes

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "tests/data/world/pixsift-world-vit.json"
#: Training scenes use the seed; held-out evaluation scenes use this offset (never trained on).
EVAL_SEED_OFFSET = 1_000_003
TRAIN_RENDER_SIZE = 64  # drawn a bit larger than the model's 48 px; the transform crops/resizes


#: SigLIP's initial temperature and bias (Zhai et al. 2023: t' = log 10, b = -10), written into
#: the sigmoid model's own config so that open_clip builds the ``logit_bias`` its checkpoint
#: holds when the product loads it (as open_clip's SigLIP configs carry ``init_logit_bias``).
#: Not "-siglip": open_clip's get_tokenizer gives any model named *siglip* without an
#: ``hf_tokenizer_name`` SigLIP's sentencepiece tokenizer (downloaded), not this model's CLIP BPE.
SIGLIP_INIT = {"init_logit_scale": math.log(10.0), "init_logit_bias": -10.0}


def model_config(config: Path, loss: str, work: Path) -> Path:
    """The config to train: ``config`` itself for the CLIP loss; for the sigmoid loss a copy
    named ``<stem>-sigmoid`` with SigLIP's initial temperature and bias."""
    if loss == "clip":
        return config
    derived = {**json.loads(config.read_text(encoding="utf-8")), **SIGLIP_INIT}
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{config.stem}-sigmoid.json"
    path.write_text(json.dumps(derived, indent=2) + "\n", encoding="utf-8")
    return path


def build_model(config: Path) -> tuple[torch.nn.Module, object, object, object]:
    open_clip.add_model_config(config)
    model, train_tf, eval_tf = open_clip.create_model_and_transforms(
        config.stem, pretrained=None, output_dict=True
    )
    return model, train_tf, eval_tf, open_clip.get_tokenizer(config.stem)


class SceneBatches(torch.utils.data.IterableDataset):
    """(images, tokens) batches of fresh training scenes, drawn in one loader worker process
    (one stream, so the order is the seed's whatever the machine) while the model trains."""

    def __init__(self, seed: int, batch_size: int, transform, tokenizer) -> None:
        self.seed, self.batch_size, self.transform, self.tokenizer = (
            seed,
            batch_size,
            transform,
            tokenizer,
        )

    def __iter__(self):
        return batches(self.seed, self.batch_size, self.transform, self.tokenizer)


def batches(seed: int, batch_size: int, transform, tokenizer):
    """(images, tokens) batches of fresh training scenes, each with one of its true captions."""
    stream = iter_scenes(seed, allow_held_out=False)
    rng = random.Random(seed)
    while True:
        chunk = [next(stream) for _ in range(batch_size)]
        texts = [
            s.caption if rng.random() < 0.5 else rng.choice(caption_variants(s)) for s in chunk
        ]
        images = torch.stack([transform(render(s, (TRAIN_RENDER_SIZE,) * 2)) for s in chunk])
        yield images, tokenizer(texts)


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


@torch.no_grad()
def held_out_recall(model, eval_tf, tokenizer, seed: int, count: int) -> dict[str, float]:
    """Text->image R@1/R@5 over ``count`` held-out scenes (full captions, exact search)."""
    model.eval()
    test = scenes(seed + EVAL_SEED_OFFSET, count)
    images = torch.stack([eval_tf(render(s, (256, 256))) for s in test])
    image_vectors = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
    text_vectors = torch.nn.functional.normalize(
        model.encode_text(tokenizer([s.caption for s in test])), dim=-1)  # fmt: skip
    ranks = (text_vectors @ image_vectors.T).argsort(dim=1, descending=True)
    position = (ranks == torch.arange(count)[:, None]).float().argmax(dim=1)
    held = torch.tensor([s.held_out for s in test])
    model.train()
    return {
        "scenes": count,
        "r1": float((position < 1).float().mean()),
        "r5": float((position < 5).float().mean()),
        "r1_held_out_pairs": float((position[held] < 1).float().mean()),
        "held_out_pair_scenes": int(held.sum()),
    }


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    # Fixed: the sums, hence the weights, depend on it. One thread: on a shared, loaded machine
    # two threads spend most of their time waiting for each other (measured: 5x slower).
    torch.set_num_threads(args.threads)
    model, train_tf, eval_tf, tokenizer = build_model(args.config)
    siglip = args.loss == "siglip"
    criterion = open_clip.loss.SigLipLoss() if siglip else open_clip.loss.ClipLoss()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": rest, "weight_decay": 0.0}], lr=args.lr)  # fmt: skip
    started = time.perf_counter()
    losses = []
    model.train()
    data = SceneBatches(args.seed, args.batch, train_tf, tokenizer)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=1, prefetch_factor=4)
    for step, (images, tokens) in enumerate(loader):
        if step >= args.steps:
            break
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        out = model(images, tokens)
        if args.loss == "siglip":
            loss = criterion(out["image_features"], out["text_features"], out["logit_scale"],
                             out["logit_bias"])  # fmt: skip
        else:
            loss = criterion(out["image_features"], out["text_features"], out["logit_scale"])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {np.mean(losses[-50:]):.4f} "
                  f"{time.perf_counter() - started:7.1f} s", flush=True)  # fmt: skip
    train_seconds = time.perf_counter() - started
    recall = held_out_recall(model, eval_tf, tokenizer, args.seed, args.eval_scenes)
    return {
        "model": model,
        "train_seconds": train_seconds,
        "final_loss": float(np.mean(losses[-50:])),
        "held_out": recall,
        # The learnt temperature (and a sigmoid model's bias): what a score's scale means.
        "logit_scale": float(model.logit_scale.detach().exp()),
        "logit_bias": float(model.logit_bias.detach()) if model.logit_bias is not None else None,
    }


def save(model: torch.nn.Module, config: Path, out: Path, name: str, report: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().half().contiguous() for key, value in model.state_dict().items()}
    checkpoint = out / f"{name}.safetensors"
    save_file(state, str(checkpoint))
    if config.resolve() != (out / f"{name}.json").resolve():
        shutil.copyfile(config, out / f"{name}.json")
    (out / f"{name}.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--loss", choices=("clip", "siglip"), default="clip")
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-scenes", type=int, default=1000)
    args = parser.parse_args()
    args.config = model_config(args.config, args.loss, args.out)
    result = train(args)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"settings": settings, "train_seconds": round(result["train_seconds"], 1),
              "final_loss": result["final_loss"], "held_out": result["held_out"],
              "logit_scale": result["logit_scale"], "logit_bias": result["logit_bias"],
              "torch": torch.__version__, "open_clip": open_clip.__version__}  # fmt: skip
    name = args.config.stem  # the sigmoid model's derived config is already <stem>-sigmoid
    checkpoint = save(result["model"], args.config, args.out, name, report)
    print(json.dumps(report, indent=2))
    print(f"wrote {checkpoint} ({checkpoint.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
