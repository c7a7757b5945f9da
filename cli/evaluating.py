"""``pixsift eval``: retrieval evaluation of a library against a captions file."""

from __future__ import annotations

from pathlib import Path

import click

from pixsift.cli.options import library_options, model_options, open_library, reports_errors
from pixsift.search.evaluation.captions import KARPATHY_SPLITS, read_captions
from pixsift.search.evaluation.report import format_table
from pixsift.search.evaluation.retrieval import (
    DEFAULT_DEPTH,
    WORST_SHOWN,
    EvaluationOptions,
    evaluate,
)
from pixsift.search.model.spec import requested_model_spec
from pixsift.search.query.request import SEARCH_MODES


@click.command("eval")
@click.argument("captions_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode",
    "modes",
    type=click.Choice(SEARCH_MODES),
    multiple=True,
    help="Search modes to evaluate (repeatable; default: all).",
)
@click.option(
    "--split",
    type=click.Choice(KARPATHY_SPLITS),
    default="test",
    show_default=True,
    help="For a Karpathy-split JSON: which images' captions.",
)
@click.option(
    "--depth",
    type=click.IntRange(10, 1000),
    default=DEFAULT_DEPTH,
    show_default=True,
    help="How far down each result list to look for the picture.",
)
@click.option("--worst", type=click.IntRange(0), default=WORST_SHOWN, show_default=True)
@click.option("--no-image-to-text", is_flag=True, help="Skip the image->text direction.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@library_options
@model_options
@reports_errors
def eval_command(
    captions_file: Path,
    modes: tuple[str, ...],
    split: str,
    depth: int,
    worst: int,
    no_image_to_text: bool,
    as_json: bool,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
) -> None:
    """Measure how well the library finds the pictures CAPTIONS_FILE describes (JSONL or CSV of
    path, caption; or a COCO/Flickr30k Karpathy-split JSON): R@1/5/10 and median rank, text to
    image per search mode and image to text, and the worst queries."""
    captions = read_captions(captions_file, split=split)
    options = EvaluationOptions(
        modes=modes or SEARCH_MODES,
        depth=depth,
        worst=worst,
        image_to_text=not no_image_to_text,
    )
    spec = requested_model_spec(model, pretrained, preprocessing_tag)
    with open_library(library, database_url, model_spec=spec) as opened:
        report = evaluate(opened, captions, captions_file, options)
    click.echo(report.model_dump_json(indent=2) if as_json else format_table(report))
