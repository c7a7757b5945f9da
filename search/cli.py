"""The ``pixsift`` command line. Core commands live here; ``index`` (indexer) and ``serve`` (web)
join through the ``pixsift.commands`` entry points, so this package imports neither."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import click

from search import settings
from search.database import upgrade_database
from search.embedder import ModelSpec
from search.errors import PixsiftError
from search.library import MAX_RESULTS, Library
from search.records import SearchHit

F = TypeVar("F", bound=Callable[..., Any])


def setting_option(setting: settings.Setting, *flags: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option whose default, help and environment variable come from ``setting``."""
    return click.option(
        *flags,
        setting.name,
        default=setting.default,
        envvar=setting.environment_variable,
        show_envvar=True,
        help=setting.help,
        **kwargs,
    )


def library_options(function: F) -> F:
    function = setting_option(settings.DATABASE_URL, "--database-url")(function)
    function = setting_option(
        settings.LIBRARY, "--library", type=click.Path(file_okay=False, path_type=Path)
    )(function)
    return function


def model_options(function: F) -> F:
    function = setting_option(settings.PREPROCESSING_TAG, "--preprocessing-tag")(function)
    function = setting_option(settings.PRETRAINED, "--pretrained")(function)
    function = setting_option(settings.MODEL, "--model")(function)
    return function


def model_spec_from(model: str | None, pretrained: str | None, tag: str | None) -> ModelSpec | None:
    """A requested ModelSpec, or None to use the library's own."""
    if not (model or pretrained or tag):
        return None
    defaults = ModelSpec()
    return ModelSpec(
        model_name=model or defaults.model_name,
        pretrained=pretrained or defaults.pretrained,
        preprocessing_tag=tag,
    )


def open_library(library: Path | None, database_url: str | None, **kwargs: Any) -> Library:
    return Library.open(library, database_url=database_url, **kwargs)


def reports_errors(function: F) -> F:
    """Turn pixsift errors into one line on stderr and exit status 1, not a traceback."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PixsiftError as error:
            raise click.ClickException(error.message) from error

    return wrapper  # type: ignore[return-value]


class PixsiftGroup(click.Group):
    """Adds the commands other pixsift packages register as entry points."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in _plugin_commands():
            command = _plugin_commands()[name].load()
        return command


def _plugin_commands() -> dict[str, Any]:
    return {entry.name: entry for entry in entry_points(group="pixsift.commands")}


@click.group(cls=PixsiftGroup)
@click.version_option(package_name="pixsift")
def main() -> None:
    """pixsift: search your images in plain words."""


@main.command()
@click.argument("text", required=False)
@click.option("-k", "--top", "k", default=10, show_default=True, help="Number of results.")
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Search by an example image file instead of text.",
)
@click.option("--like", "image_id", type=int, help="Search by an indexed image's id.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@library_options
@model_options
@reports_errors
def search(
    text: str | None,
    k: int,
    image: Path | None,
    image_id: int | None,
    as_json: bool,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
) -> None:
    """Find the images most like TEXT (or --image FILE, or --like ID)."""
    if not 1 <= k <= MAX_RESULTS:
        raise click.BadParameter(f"must be between 1 and {MAX_RESULTS}", param_hint="-k")
    spec = model_spec_from(model, pretrained, preprocessing_tag)
    with open_library(library, database_url, model_spec=spec) as opened:
        if opened.store.model_id() is None:
            raise click.ClickException(
                "the library is empty: index a folder first (pixsift index DIR)"
            )
        hits = opened.search(text, image=image, image_id=image_id, k=k)
    if as_json:
        click.echo(json.dumps([_hit_json(hit) for hit in hits], indent=2))
        return
    if not hits:
        click.echo("no results")
    for hit in hits:
        click.echo(f"{hit.score:.4f}  {hit.image.absolute_path}")


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    image = hit.image
    return {
        "id": image.id,
        "score": round(hit.score, 6),
        "path": image.absolute_path,
        "root": image.root_path,
        "relative_path": image.relative_path,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "taken_at": image.taken_at.isoformat() if image.taken_at else None,
    }


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@library_options
@reports_errors
def stats(as_json: bool, library: Path | None, database_url: str | None) -> None:
    """Show what the library holds."""
    with open_library(library, database_url) as opened:
        facts = opened.stats()
        directory = opened.directory
    if as_json:
        click.echo(json.dumps({**asdict(facts), "library": str(directory)}, default=str, indent=2))
        return
    click.echo(f"library:        {directory}")
    click.echo(f"images:         {facts.image_count}")
    click.echo(f"skipped files:  {facts.failure_count}")
    click.echo(f"model:          {facts.model_id or '-'}")
    click.echo(f"index:          {facts.index_type} (generation {facts.index_generation})")
    click.echo(f"last indexed:   {facts.last_indexed_at or 'never'}")
    for root in facts.root_paths:
        click.echo(f"root:           {root}")


@main.command("rebuild-index")
@library_options
@reports_errors
def rebuild_index(library: Path | None, database_url: str | None) -> None:
    """Regenerate the vector index from stored embeddings (no re-embedding)."""
    with open_library(library, database_url) as opened:
        index = opened.rebuild_index()
    click.echo(f"rebuilt {index.sidecar.index_type} index with {index.count} vectors")


@main.command()
@library_options
@reports_errors
def failures(library: Path | None, database_url: str | None) -> None:
    """List the files indexing skipped, with the reason."""
    with open_library(library, database_url) as opened:
        records = opened.failures()
    for record in records:
        click.echo(f"{record.path}\t{record.reason}")
    if not records:
        click.echo("no skipped files")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@library_options
@reports_errors
def upgrade(library: Path | None, database_url: str | None) -> None:
    """Apply pending schema migrations (also done automatically on open)."""
    with open_library(library, database_url) as opened:
        upgrade_database(opened.store.engine)
    click.echo("database is up to date")
