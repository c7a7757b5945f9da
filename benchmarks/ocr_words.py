"""Words in pictures found by keyword search, through the product: generated pictures in the
small world's style (its textured backgrounds and shapes, larger) each carry one legible English
word of 20-80 px (on a label, bare, or outlined; DejaVu Sans, Serif, Mono and Sans Bold); the
folder is indexed with OCR on and each word searched in keyword mode. Also the OCR cost per
picture (one worker, one Tesseract thread) and how many words OCR stored per picture (noise).

    nice .venv/bin/python -m benchmarks.ocr_words [--count 48] [--label after]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.common import load_embedder, print_table, write_results
from benchmarks.world.render import render
from benchmarks.world.scenes import scenes

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
TEXT_SIZES = (20, 28, 36, 48, 64, 80)
STYLES = ("label", "bare", "outlined")
PICTURE_SIZE = (640, 480)
WORDS = (
    "harbour", "bakery", "window", "garden", "market", "station", "library", "museum",
    "theatre", "pharmacy", "bicycle", "orange", "silver", "parking", "closed", "welcome",
    "kitchen", "hotel", "bridge", "forest", "castle", "river", "school", "coffee",
    "flowers", "ticket", "island", "mountain", "village", "exit", "danger", "dragon",
    "planet", "violin", "summer", "winter", "candle", "pepper", "rabbit", "tomato",
    "engine", "shadow", "marble", "lemon", "anchor", "puzzle", "helmet", "saddle",
)  # fmt: skip


def draw_word(picture: Image.Image, word: str, font_file: str, size: int, style: str,
              rng: np.random.Generator) -> None:  # fmt: skip
    """One word somewhere in the picture, in a colour that contrasts with what lies under it."""
    font = ImageFont.truetype(str(FONTS / font_file), size)
    left, top, right, bottom = font.getbbox(word)
    width, height = right - left, bottom - top
    x = int(rng.integers(10, max(11, picture.width - width - 10)))
    y = int(rng.integers(10, max(11, picture.height - height - 10)))
    draw = ImageDraw.Draw(picture)
    under = np.asarray(picture.crop((x, y, x + width, y + height))).mean()
    dark, light = (20, 20, 25), (250, 250, 245)
    ink = dark if under > 128 else light
    if style == "label":
        pad = max(4, size // 4)
        box = (x - pad, y - pad, x + width + pad, y + height + pad)
        draw.rectangle(box, fill=(245, 240, 225))
        draw.text((x - left, y - top), word, font=font, fill=dark)
    elif style == "bare":
        draw.text((x - left, y - top), word, font=font, fill=ink)
    else:  # outlined, as the world prints its words
        draw.text((x - left, y - top), word, font=font, fill=light,
                  stroke_width=max(1, size // 16), stroke_fill=dark)  # fmt: skip


def write_pictures(folder: Path, count: int, seed: int = 19) -> list[tuple[str, str, dict]]:
    """``count`` JPEGs, each with one word; returns (file name, word, how it was printed)."""
    rng = np.random.default_rng(seed)
    made = []
    for number, scene in enumerate(scenes(seed, count, allow_held_out=False)):
        picture = render(replace(scene, word=None), PICTURE_SIZE)
        word = WORDS[number % len(WORDS)]
        size = TEXT_SIZES[number % len(TEXT_SIZES)]
        style = STYLES[(number // len(TEXT_SIZES)) % len(STYLES)]
        font_file = FONT_FILES[number % len(FONT_FILES)]
        draw_word(picture, word, font_file, size, style, rng)
        name = f"photo-{number:03d}.jpg"
        picture.save(folder / name, quality=90)
        made.append((name, word, {"size": size, "style": style, "font": font_file}))
    return made


def measure(count: int) -> dict:
    from pixsift.indexer.ocr_engine import limit_engine_threads, recognise_file
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.library import Library
    from pixsift.search.query.request import QueryTerm, SearchRequest

    embedder, _ = load_embedder()
    limit_engine_threads()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "photos"
        folder.mkdir()
        made = write_pictures(folder, count)
        started = time.perf_counter()
        words_stored = [len(recognise_file(os.fsencode(folder / name)).text.split())
                        for name, _, _ in made]  # fmt: skip
        seconds = (time.perf_counter() - started) / count
        library = Library.open(Path(work) / "library", embedder=embedder)
        try:
            options = IndexingOptions(workers=1, show_progress=False, ocr=True, tag=False)
            Indexer(library, embedder, options).index([folder])
            rows = []
            for name, word, printed in made:
                request = SearchRequest((QueryTerm(text=word),), mode="keyword", k=10)
                names = [hit.image.name for hit in library.find(request).hits]
                rows.append({"file": name, "word": word, **printed, "found": name in names,
                             "other_hits": len([n for n in names if n != name])})  # fmt: skip
        finally:
            library.close()
    found = sum(row["found"] for row in rows)
    return {"pictures": count, "found": found, "share_found": round(found / count, 3),
            "ocr_seconds_per_picture": round(seconds, 3),
            "words_stored_per_picture": round(float(np.mean(words_stored)), 1),
            "rows": rows}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--label", default="after", help="names the JSON: ocr_words-LABEL.json")
    arguments = parser.parse_args()
    result = measure(arguments.count)
    by_group = []
    for key, values in (("size", TEXT_SIZES), ("style", STYLES), ("font", FONT_FILES)):
        for value in values:
            group = [row for row in result["rows"] if row[key] == value]
            found = sum(row["found"] for row in group)
            by_group.append({"group": f"{key} {value}", "found": f"{found}/{len(group)}"})
    print_table(by_group, ["group", "found"])
    print(f"found {result['found']}/{result['pictures']} ({result['share_found']:.0%}); "
          f"OCR {result['ocr_seconds_per_picture']:.2f} s/picture; "
          f"{result['words_stored_per_picture']} words stored/picture")  # fmt: skip
    print(write_results(f"ocr_words-{arguments.label}", result))


if __name__ == "__main__":
    main()
