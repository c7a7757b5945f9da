"""``pixsift tags``: list tags (library-wide or one image's), re-tag, and edit by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pixsift.cli.options import library_options, model_options, open_library, reports_errors
from pixsift.search.filenames import terminal_text
from pixsift.search.model.spec import requested_model_spec
from pixsift.search.tags.contract import TagNames
from pixsift.search.tags.service import LibraryTags


@click.group(invoke_without_command=True)
@click.option("--image", "image_id", type=click.IntRange(1), help="Only this image's tags.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@library_options
@click.pass_context
@reports_errors
def tags(
    context: click.Context,
    image_id: int | None,
    as_json: bool,
    library: Path | None,
    database_url: str | None,
) -> None:
    """List the library's tags with how many images carry each (or one image's tags).

    Automatic tags come from the library's model (zero-shot, recomputed after each indexing
    run); manual ones are yours and never overwritten."""
    if context.invoked_subcommand is not None:
        context.obj = (library, database_url)
        return
    with open_library(library, database_url) as opened:
        if image_id is not None:
            listed = LibraryTags(opened).of_image(image_id)
            rows = [{"tag": tag, "source": source} for tag, source in listed.tags]
            lines = [f"{terminal_text(tag)}\t{source}" for tag, source in listed.tags]
        else:
            counts = LibraryTags(opened).counts()
            rows = [vars(count) for count in counts]
            lines = [
                f"{count.images:7d}  {terminal_text(count.tag)}"
                + (f"  ({count.manual} by hand)" if count.manual else "")
                for count in counts
            ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo("\n".join(lines) if lines else "no tags yet (run: pixsift tags recompute)")


def _library(
    context: click.Context, library: Path | None, database_url: str | None
) -> tuple[Path | None, str | None]:
    """The subcommand's --library/--database-url, else the group's."""
    group = context.obj or (None, None)
    return library or group[0], database_url or group[1]


@tags.command()
@library_options
@model_options
@click.pass_context
@reports_errors
def recompute(
    context: click.Context,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
) -> None:
    """Tag every image again from its stored embedding (no image is read or embedded again).

    Only the labels are embedded, once per model (then cached)."""
    _retag(context, (library, database_url), (model, pretrained, preprocessing_tag), True)


@tags.command()
@library_options
@model_options
@click.pass_context
@reports_errors
def update(
    context: click.Context,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
) -> None:
    """Tag the images embedded since the last tagging (every image when the model, the
    vocabulary or the calibration changed). ``pixsift index`` runs it after a first run."""
    _retag(context, (library, database_url), (model, pretrained, preprocessing_tag), False)


def _retag(
    context: click.Context,
    where: tuple[Path | None, str | None],
    model: tuple[str | None, str | None, str | None],
    everything: bool,
) -> None:
    library, database_url = _library(context, *where)
    requested = requested_model_spec(*model)
    with open_library(library, database_url, model_spec=requested) as opened:
        service = LibraryTags(opened)
        report = service.recompute() if everything else service.update()
    click.echo(
        f"tagged {report.tagged_images} of {report.images} images: "
        f"{report.tags_added} tags added, {report.tags_removed} removed, "
        f"in {report.tagging_seconds:.2f} s (+{report.label_seconds:.2f} s for the labels)"
    )


@tags.command()
@click.argument("image_id", type=click.IntRange(1))
@click.argument("words", nargs=-1, required=True)
@library_options
@click.pass_context
@reports_errors
def add(
    context: click.Context,
    image_id: int,
    words: tuple[str, ...],
    library: Path | None,
    database_url: str | None,
) -> None:
    """Add tags to an image by hand (quote a tag of several words)."""
    _edit(_library(context, library, database_url), image_id, words, remove=False)


@tags.command()
@click.argument("image_id", type=click.IntRange(1))
@click.argument("words", nargs=-1, required=True)
@library_options
@click.pass_context
@reports_errors
def remove(
    context: click.Context,
    image_id: int,
    words: tuple[str, ...],
    library: Path | None,
    database_url: str | None,
) -> None:
    """Take tags away from an image; re-tagging will not bring them back."""
    _edit(_library(context, library, database_url), image_id, words, remove=True)


def _edit(
    where: tuple[Path | None, str | None], image_id: int, words: tuple[str, ...], *, remove: bool
) -> None:
    library, database_url = where
    names = TagNames.parse({"tags": list(words)})
    with open_library(library, database_url) as opened:
        service = LibraryTags(opened)
        listed = service.remove(image_id, names) if remove else service.add(image_id, names)
    click.echo(", ".join(terminal_text(tag) for tag, _ in listed.tags) or "(no tags)")
