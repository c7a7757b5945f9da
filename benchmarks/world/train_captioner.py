"""Train a small open_clip CoCa captioner on the world, on CPU, reproducibly: open_clip's own
CoCa model (built from tests/data/world/pixsift-world-coca.json), its CoCaLoss (captioning plus
contrastive), fresh scenes for every batch (the held-out colour-shape pairs never drawn), the
full caption as the target. The vocabulary is the world's grammar, as a word-level Hugging Face
tokenizer folder next to the config (open_clip's ``hf_tokenizer_name``): with CLIP's 49,408
BPE tokens the token embedding and the decoder's output layer alone would be 6 MB.

    nice -n 10 .venv/bin/python -m benchmarks.world.train_captioner --out tests/data/world

Writes the tokenizer folder, ``pixsift-world-coca.safetensors`` (fp16) and
``pixsift-world-coca.metrics.json`` (settings, time, loss).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from safetensors.torch import save_file

from benchmarks.world.batches import TRAIN_RENDER_SIZE
from benchmarks.world.render import render
from benchmarks.world.scenes import (
    BACKGROUNDS,
    COLOURS,
    PLACE_PHRASES,
    RELATIONS,
    SHAPES,
    SIZES,
    WORDS,
    iter_scenes,
    scenes,
)
from benchmarks.world.train import init_vision, learning_rate

DATA = Path(__file__).resolve().parents[2] / "tests/data/world"
NAME = "pixsift-world-coca"
TOKENIZER_FOLDER = f"{NAME}-tokenizer"
QUICK_EVAL_SEED = 4_242  # held-out scenes for comparing variants (not the product benchmark's)
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")  # pad first: CoCa's pad_id is 0


def grammar_words() -> list[str]:
    """Every word the caption grammar can write (search: benchmarks.world.scenes)."""
    phrases = [*PLACE_PHRASES.values(), *RELATIONS, "a on the with word and background"]
    words = {w for phrase in phrases for w in phrase.split()}
    words |= {*SHAPES, *COLOURS, *SIZES, *BACKGROUNDS, *WORDS, ","}
    return sorted(words)


def write_tokenizer(folder: Path) -> int:
    """A word-level tokenizer of the grammar's words (lower case, punctuation split off), with
    <s> ... </s> around every text; its vocabulary size."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocabulary = {token: index for index, token in enumerate([*SPECIALS, *grammar_words()])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", model_max_length=32,
    )  # fmt: skip
    fast.save_pretrained(str(folder))
    return len(vocabulary)


def build(config_path: Path, tokenizer_folder: Path) -> tuple[torch.nn.Module, object, object]:
    config = json.loads(config_path.read_text())
    config["text_cfg"]["hf_tokenizer_name"] = str(tokenizer_folder)
    model = open_clip.create_model(config_path.stem, pretrained=None, **{
        key: config[key] for key in ("text_cfg", "vision_cfg", "multimodal_cfg", "embed_dim")
    })  # fmt: skip
    # open_clip's CoCa leaves its decoder's output layer uninitialised (torch.empty): huge
    # logits, a NaN loss. Initialised as open_clip's own init_parameters would.
    decoder = model.text_decoder
    torch.nn.init.normal_(decoder.text_projection, std=decoder.width**-0.5)
    tokenizer = open_clip.tokenizer.HFTokenizer(
        config["text_cfg"]["hf_tokenizer_name"], context_length=config["text_cfg"]["context_length"]
    )
    transform = open_clip.image_transform(
        model.visual.image_size, is_train=True, resize_mode="shortest"
    )
    return model, tokenizer, transform


def token_weights(tokenizer, focus: float, vocabulary: int) -> torch.Tensor:
    """Per-token weights of the caption loss: the shape and colour words weigh ``focus``, the
    grammar's other words 1 (a caption is ~14 tokens of which the objects' names are 2-6; the
    rest is learnt first and dominates the mean)."""
    weights = torch.ones(vocabulary)
    inner = tokenizer.tokenizer
    for word in (*SHAPES, *COLOURS):
        weights[inner.convert_tokens_to_ids(word)] = focus
    return weights


def caption_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the next token, padding ignored, weighted by the target token's weight."""
    each = torch.nn.functional.cross_entropy(logits.permute(0, 2, 1), labels, reduction="none")
    weight = weights[labels] * (labels != 0)
    return (each * weight).sum() / weight.sum()


def build_tokenizer(args: argparse.Namespace):
    config = json.loads(args.config.read_text())
    return open_clip.tokenizer.HFTokenizer(
        str(args.out / TOKENIZER_FOLDER), context_length=config["text_cfg"]["context_length"]
    )


class SceneBatches(torch.utils.data.IterableDataset):
    """(images, tokens) of fresh training scenes with their full captions, drawn in one loader
    worker (one stream: the order is the seed's whatever the machine)."""

    def __init__(
        self, seed: int, batch_size: int, transform, tokenizer, size: int = TRAIN_RENDER_SIZE
    ) -> None:
        self.seed, self.batch_size, self.size = seed, batch_size, size
        self.transform, self.tokenizer = transform, tokenizer

    def __iter__(self):
        stream = iter_scenes(self.seed, allow_held_out=False)
        while True:
            chunk = [next(stream) for _ in range(self.batch_size)]
            images = torch.stack([self.transform(render(s, (self.size,) * 2)) for s in chunk])
            yield images, self.tokenizer([s.caption for s in chunk])


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    open_clip.add_model_config(args.config)
    model, tokenizer, transform = build(args.config, args.out / TOKENIZER_FOLDER)
    if args.init_vision:
        print(
            f"vision trunk from {args.init_vision}: {init_vision(model, args.init_vision)} tensors"
        )
    if args.freeze_vision:
        for name, parameter in model.visual.named_parameters():
            parameter.requires_grad_(name.startswith(("attn_pool", "ln_post", "proj")))
    criterion = open_clip.loss.CoCaLoss(caption_loss_weight=2.0, clip_loss_weight=1.0, pad_id=0)
    weights = token_weights(
        tokenizer, args.focus_weight, json.loads(args.config.read_text())["text_cfg"]["vocab_size"]
    )
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trained if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in trained if not (p.ndim >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": rest, "weight_decay": 0.0}], lr=args.lr)  # fmt: skip
    data = SceneBatches(args.seed, args.batch, transform, tokenizer, args.render_size)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=1, prefetch_factor=4)
    started, losses = time.perf_counter(), []
    model.train()
    for step, (images, tokens) in enumerate(loader):
        if step >= args.steps:
            break
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        out = model(images, tokens)
        clip_loss, _ = criterion(out["image_features"], out["text_features"], out["logits"],
                                 out["labels"], out["logit_scale"])  # fmt: skip
        loss = clip_loss + 2.0 * caption_loss(out["logits"], out["labels"], weights)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {np.mean(losses[-50:]):.4f} "
                  f"{time.perf_counter() - started:7.1f} s", flush=True)  # fmt: skip
        if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            # An interrupted long run still leaves a usable model (and its figures so far).
            so_far = {"model": model, "steps_done": step + 1, "final_loss": np.mean(losses[-50:]),
                      "train_seconds": time.perf_counter() - started}  # fmt: skip
            save(args, so_far, tokenizer)
            model.train()
    return {"model": model, "train_seconds": time.perf_counter() - started,
            "steps_done": args.steps, "final_loss": float(np.mean(losses[-50:]))}  # fmt: skip


def quick_eval(model: torch.nn.Module, tokenizer, count: int) -> dict:
    """Figures of benchmarks.world_captions on ``count`` held-out scenes decoded in memory by the
    product's captioner (no files, no library): for comparing training variants cheaply."""
    from benchmarks.world_captions import quality
    from benchmarks.world_files import PICTURE_SIZE
    from pixsift.search.caption.coca import CocaCaptioner

    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
    captioner = CocaCaptioner(model, preprocess, tokenizer, "training")
    truth = scenes(QUICK_EVAL_SEED, count)
    described: list[str] = []
    for start in range(0, count, 32):
        chunk = truth[start : start + 32]
        described += captioner.describe([render(scene, PICTURE_SIZE) for scene in chunk])
    return quality(described, truth) | {"examples": described[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument("--config", type=Path, default=DATA / f"{NAME}.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--render-size",
        type=int,
        default=TRAIN_RENDER_SIZE,
        help="training scenes are drawn at this size, then cropped to the model's input",
    )
    parser.add_argument(
        "--init-vision",
        type=Path,
        default=None,
        help="start the image trunk from this world CLIP checkpoint",
    )
    parser.add_argument(
        "--freeze-vision",
        action="store_true",
        help="with --init-vision: train only the image pooler, not the trunk",
    )
    parser.add_argument(
        "--focus-weight",
        type=float,
        default=1.0,
        help="caption-loss weight of the shape and colour words",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        help="also write the checkpoint (and run --eval-scenes) every this many steps",
    )
    parser.add_argument(
        "--eval-scenes",
        type=int,
        default=0,
        help="decode this many held-out scenes at the end and report recall",
    )
    args = parser.parse_args()
    write_tokenizer(args.out / TOKENIZER_FOLDER)
    save(args, train(args), build_tokenizer(args))


def save(args: argparse.Namespace, result: dict, tokenizer) -> None:
    """Write the fp16 checkpoint, the config and the metrics (with the quick evaluation's
    figures when ``--eval-scenes`` asks for them)."""
    model = result["model"]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"settings": settings,
              "vocabulary": len(tokenizer.tokenizer), "steps_done": result["steps_done"],
              "parameters": sum(p.numel() for p in model.parameters()),
              "train_seconds": round(result["train_seconds"], 1),
              "final_loss": float(result["final_loss"]), "torch": torch.__version__,
              "open_clip": open_clip.__version__}  # fmt: skip
    if args.eval_scenes:
        report["quick_eval"] = quick_eval(model, tokenizer, args.eval_scenes)
        print(f"quick eval at step {result['steps_done']}:", json.dumps(report["quick_eval"]),
              flush=True)  # fmt: skip
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    checkpoint = args.out / f"{NAME}.safetensors"
    save_file(state, str(checkpoint))
    if args.config.resolve() != (args.out / f"{NAME}.json").resolve():
        shutil.copyfile(args.config, args.out / f"{NAME}.json")
    (args.out / f"{NAME}.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {checkpoint} ({checkpoint.stat().st_size / 1e6:.2f} MB) at step "
          f"{result['steps_done']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
