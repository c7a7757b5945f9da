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
import shutil
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from benchmarks.world.batches import SceneBatches
from benchmarks.world.render import render
from benchmarks.world.scenes import scenes

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "tests/data/world/pixsift-world-vit.json"
#: Training scenes use the seed; held-out evaluation scenes use this offset (never trained on).
EVAL_SEED_OFFSET = 1_000_003


def render_size(config: Path) -> int:
    """Training scenes are drawn at 4/3 of the model's input (64 px for 48 px): the training
    transform's random crop then resizes down, never up."""
    image_size = json.loads(config.read_text(encoding="utf-8"))["vision_cfg"]["image_size"]
    return int(image_size) * 4 // 3


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


class MultiPositiveSigLipLoss(open_clip.loss.SigLipLoss):
    """open_clip's SigLipLoss (one process) with the labels given, not its diagonal:
    -sum(logsigmoid(labels * (scale * image @ text.T + bias))) / batch."""

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor,
                logit_scale: torch.Tensor, logit_bias: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:  # fmt: skip
        logits = self.get_logits(image_features, text_features, logit_scale, logit_bias)
        if labels.shape != logits.shape:
            raise ValueError(f"labels {tuple(labels.shape)} for logits {tuple(logits.shape)}")
        return -F.logsigmoid(labels.to(logits.dtype) * logits).sum() / image_features.shape[0]


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
    phrases = phrase_ranking(model, tokenizer, test, image_vectors)
    model.train()
    return {
        **phrases,
        "scenes": count,
        "r1": float((position < 1).float().mean()),
        "r5": float((position < 5).float().mean()),
        "r1_held_out_pairs": float((position[held] < 1).float().mean()),
        "held_out_pair_scenes": int(held.sum()),
    }


def phrase_ranking(model, tokenizer, test: list, image_vectors: torch.Tensor) -> dict[str, float]:
    """For every colour-shape pair in ``test``, the query "a <colour> <shape>": the mean share
    of its top 10 holding the shape, the colour, and the pair (of as many as exist, up to 10).
    A model that ranks short phrases by colour alone has a high colour and a low shape share."""
    pairs = sorted({(t.colour, t.shape) for s in test for t in s.things})
    texts = [f"a {colour} {shape}" for colour, shape in pairs]
    queries = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1)
    top = (queries @ image_vectors.T).topk(10, dim=1).indices.tolist()
    shape_share, colour_share, precision = [], [], []
    for (colour, shape), ranked in zip(pairs, top, strict=True):
        holds = [[(t.colour, t.shape) for t in test[i].things] for i in ranked]
        shape_share.append(np.mean([any(s == shape for _, s in h) for h in holds]))
        colour_share.append(np.mean([any(c == colour for c, _ in h) for h in holds]))
        present = sum((colour, shape) in [(t.colour, t.shape) for t in s.things] for s in test)
        precision.append(sum((colour, shape) in h for h in holds) / min(10, present))
    return {"phrase_pairs": len(pairs), "phrase_top10_shape": float(np.mean(shape_share)),
            "phrase_top10_colour": float(np.mean(colour_share)),
            "phrase_precision_at_10": float(np.mean(precision))}  # fmt: skip


def init_vision(model: torch.nn.Module, checkpoint: Path) -> int:
    """Start the image trunk (patch embedding, positions, transformer) from another world
    model's checkpoint with the same trunk (the captioner's for a CLIP, train_captioner's
    --init-vision the other way round): a ViT of this size
    learns the world's shapes only after thousands of small steps (the captioner's word loss
    gets there; a contrastive batch of 128 at a time barely does), and colour alone is what
    short phrases are then ranked by. Pooling and projection stay fresh."""
    from safetensors.torch import load_file

    own = model.visual.state_dict()
    taken = {
        key.removeprefix("visual."): value.float()
        for key, value in load_file(checkpoint).items()
        if key.startswith("visual.") and key.removeprefix("visual.").startswith(TRUNK_PARTS)
    }
    taken = {k: v for k, v in taken.items() if k in own and own[k].shape == v.shape}
    if not any(k.startswith("transformer.") for k in taken):
        raise SystemExit(f"{checkpoint}: no image trunk of this model's shape in it")
    model.visual.load_state_dict(taken, strict=False)
    return len(taken)


def init_model(model: torch.nn.Module, checkpoint: Path) -> None:
    """Start every weight (both towers, temperature, bias) from a checkpoint of this very model
    (same config): a run that goes on from another with a new recipe, not a fresh start."""
    from safetensors.torch import load_file

    try:
        model.load_state_dict({k: v.float() for k, v in load_file(checkpoint).items()})
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise SystemExit(f"{checkpoint}: not a checkpoint of this model ({first})") from error


#: What --init-vision takes from the other checkpoint.
TRUNK_PARTS = ("conv1.", "positional_embedding", "class_embedding", "ln_pre.", "transformer.")


def make_criterion(loss: str, multi_positive: bool) -> torch.nn.Module:
    if multi_positive:
        return MultiPositiveSigLipLoss()
    return open_clip.loss.SigLipLoss() if loss == "siglip" else open_clip.loss.ClipLoss()


def batch_loss(criterion: torch.nn.Module, out: dict, labels: torch.Tensor) -> torch.Tensor:
    """The criterion on a model's output: labels only for the multi-positive sigmoid loss."""
    features = (out["image_features"], out["text_features"], out["logit_scale"])
    if isinstance(criterion, MultiPositiveSigLipLoss):
        return criterion(*features, out["logit_bias"], labels)
    if isinstance(criterion, open_clip.loss.SigLipLoss):
        return criterion(*features, out["logit_bias"])
    return criterion(*features)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    # Fixed: the sums, hence the weights, depend on it. One thread: on a shared, loaded machine
    # two threads spend most of their time waiting for each other (measured: 5x slower).
    torch.set_num_threads(args.threads)
    model, train_tf, eval_tf, tokenizer = build_model(args.config)
    if args.init_vision:
        taken = init_vision(model, args.init_vision)
        print(f"image trunk from {args.init_vision}: {taken} tensors")
    if args.init:
        init_model(model, args.init)
        print(f"whole model from {args.init}")
    criterion = make_criterion(args.loss, args.multi_positive)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": rest, "weight_decay": 0.0}], lr=args.lr)  # fmt: skip
    started = time.perf_counter()
    losses = []
    model.train()
    data = SceneBatches(args.seed, args.batch, train_tf, tokenizer,
                       size=render_size(args.config), twins=args.twins,
                       short_twins=args.short_twins, shape_words=args.shape_words,
                       swap_twins=args.swap_twins)  # fmt: skip
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=1, prefetch_factor=4)
    positives = []  # positive labels per text, a batch's mean (1.0 for the diagonal alone)
    for step, (images, tokens, labels) in enumerate(loader):
        if step >= args.steps:
            break
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        out = model(images, tokens)
        loss = batch_loss(criterion, out, labels)
        positives.append(float((labels > 0).sum()) / labels.shape[1])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            snapshot(model, args, step + 1, time.perf_counter() - started, losses)
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {np.mean(losses[-50:]):.4f} "
                  f"{time.perf_counter() - started:7.1f} s", flush=True)  # fmt: skip
    train_seconds = time.perf_counter() - started
    recall = held_out_recall(model, eval_tf, tokenizer, args.seed, args.eval_scenes)
    return {
        "model": model,
        "train_seconds": train_seconds,
        "final_loss": float(np.mean(losses[-50:])),
        "positive_labels_per_text": float(np.mean(positives)),
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


def snapshot(model: torch.nn.Module, args: argparse.Namespace, steps: int, seconds: float,
             losses: list[float]) -> Path:  # fmt: skip
    """The weights after ``steps`` of a longer run, in ``OUT/step-N/`` (same names as the final
    checkpoint, so the product loads it): where the run was, not a run of N steps (the cosine
    schedule is over all the steps). No held-out report: that costs a minute; measure it apart."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"settings": settings, "steps_done": steps, "train_seconds": round(seconds, 1),
              "loss": float(np.mean(losses[-50:]))}  # fmt: skip
    return save(model, args.config, args.out / f"step-{steps}", args.config.stem, report)


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
    parser.add_argument("--save-every", type=int, default=0,
                        help="also save the weights every N steps, in OUT/step-N/")  # fmt: skip
    parser.add_argument(
        "--short-twins",
        action="store_true",
        help="twins are captioned by the changed object alone ('a red star')",
    )
    parser.add_argument(
        "--init-vision",
        type=Path,
        default=None,
        help="start the image trunk from this checkpoint (same trunk shape)",
    )
    parser.add_argument("--twins", type=float, default=0.0,
                        help="share of each batch made of scene / shape-twin pairs")  # fmt: skip
    parser.add_argument(
        "--multi-positive",
        action="store_true",
        help="sigmoid loss: a text is positive for every picture of the batch it is true of "
        "('a red star': every picture holding a red star), not only its own",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start the whole model from this checkpoint of the same config",
    )
    parser.add_argument("--swap-twins", type=float, default=0.0,
                        help="share of each batch made of scene / colour-swap-twin pairs, each "
                        "captioned by a swapped object alone; needs --multi-positive")  # fmt: skip
    parser.add_argument("--shape-words", type=float, default=0.0,
                        help="share of the non-twin texts that name one object's shape alone "
                        "('a star'); needs --multi-positive")  # fmt: skip
    args = parser.parse_args()
    if args.multi_positive and args.loss != "siglip":
        parser.error("--multi-positive needs --loss siglip")
    if not 0.0 <= args.shape_words <= 1.0:
        parser.error(f"--shape-words is a share, 0 to 1, not {args.shape_words}")
    if args.shape_words and not args.multi_positive:
        parser.error("--shape-words needs --multi-positive (else 'a star' is a negative on "
                     "every other picture holding a star)")  # fmt: skip
    if not 0.0 <= args.swap_twins <= 1.0 or args.twins + args.swap_twins > 1.0:
        parser.error(f"--swap-twins is a share, 0 to 1 with --twins, not {args.swap_twins}")
    if args.swap_twins and not args.multi_positive:
        parser.error("--swap-twins needs --multi-positive (its texts are true of other pictures)")
    if args.init and args.init_vision:
        parser.error("--init starts the whole model; --init-vision only its image trunk: one")
    args.config = model_config(args.config, args.loss, args.out)
    result = train(args)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"settings": settings, "train_seconds": round(result["train_seconds"], 1),
              "final_loss": result["final_loss"], "held_out": result["held_out"],
              "positive_labels_per_text": result["positive_labels_per_text"],
              "logit_scale": result["logit_scale"], "logit_bias": result["logit_bias"],
              "torch": torch.__version__, "open_clip": open_clip.__version__}  # fmt: skip
    name = args.config.stem  # the sigmoid model's derived config is already <stem>-sigmoid
    checkpoint = save(result["model"], args.config, args.out, name, report)
    print(json.dumps(report, indent=2))
    print(f"wrote {checkpoint} ({checkpoint.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
