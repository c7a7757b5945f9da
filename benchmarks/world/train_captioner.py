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
)
from benchmarks.world.train import TRAIN_RENDER_SIZE, learning_rate

DATA = Path(__file__).resolve().parents[2] / "tests/data/world"
NAME = "pixsift-world-coca"
TOKENIZER_FOLDER = f"{NAME}-tokenizer"
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


class SceneBatches(torch.utils.data.IterableDataset):
    """(images, tokens) of fresh training scenes with their full captions, drawn in one loader
    worker (one stream: the order is the seed's whatever the machine)."""

    def __init__(self, seed: int, batch_size: int, transform, tokenizer) -> None:
        self.seed, self.batch_size = seed, batch_size
        self.transform, self.tokenizer = transform, tokenizer

    def __iter__(self):
        stream = iter_scenes(self.seed, allow_held_out=False)
        while True:
            chunk = [next(stream) for _ in range(self.batch_size)]
            images = torch.stack(
                [self.transform(render(s, (TRAIN_RENDER_SIZE,) * 2)) for s in chunk]
            )
            yield images, self.tokenizer([s.caption for s in chunk])


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    open_clip.add_model_config(args.config)
    model, tokenizer, transform = build(args.config, args.out / TOKENIZER_FOLDER)
    criterion = open_clip.loss.CoCaLoss(caption_loss_weight=2.0, clip_loss_weight=1.0, pad_id=0)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": rest, "weight_decay": 0.0}], lr=args.lr)  # fmt: skip
    data = SceneBatches(args.seed, args.batch, transform, tokenizer)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=1, prefetch_factor=4)
    started, losses = time.perf_counter(), []
    model.train()
    for step, (images, tokens) in enumerate(loader):
        if step >= args.steps:
            break
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        out = model(images, tokens)
        loss = sum(criterion(out["image_features"], out["text_features"], out["logits"],
                             out["labels"], out["logit_scale"]))  # fmt: skip
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {np.mean(losses[-50:]):.4f} "
                  f"{time.perf_counter() - started:7.1f} s", flush=True)  # fmt: skip
    return {"model": model, "train_seconds": time.perf_counter() - started,
            "final_loss": float(np.mean(losses[-50:]))}  # fmt: skip


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
    args = parser.parse_args()
    vocabulary = write_tokenizer(args.out / TOKENIZER_FOLDER)
    result = train(args)
    model = result["model"]
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    checkpoint = args.out / f"{NAME}.safetensors"
    save_file(state, str(checkpoint))
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"settings": settings, "vocabulary": vocabulary,
              "parameters": sum(p.numel() for p in model.parameters()),
              "train_seconds": round(result["train_seconds"], 1),
              "final_loss": result["final_loss"], "torch": torch.__version__,
              "open_clip": open_clip.__version__}  # fmt: skip
    if args.config.resolve() != (args.out / f"{NAME}.json").resolve():
        shutil.copyfile(args.config, args.out / f"{NAME}.json")
    (args.out / f"{NAME}.metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {checkpoint} ({checkpoint.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
