"""Library maintenance commands: stats, rebuild-index, failures, db upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pixsift.cli.options import library_options, open_library, reports_errors
from pixsift.search.filenames import terminal_text
from pixsift.search.storage.database import upgrade_database


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@library_options
@reports_errors
def stats(as_json: bool, library: Path | None, database_url: str | None) -> None:
    """Show what the library holds."""
    with open_library(library, database_url) as opened:
        facts = opened.stats()
        directory = opened.directory
    if as_json:
        click.echo(
            json.dumps({**facts.model_dump(mode="json"), "library": str(directory)}, indent=2)
        )
        return
    click.echo(f"library:        {directory}")
    click.echo(f"images:         {facts.image_count}")
    click.echo(f"skipped files:  {facts.failure_count}")
    click.echo(f"model:          {facts.model_id or '-'}")
    click.echo(f"index:          {facts.index_type} (generation {facts.index_generation})")
    if facts.index_recall:
        reached = ", ".join(f"{kind} {value:.3f}" for kind, value in facts.index_recall.items())
        click.echo(f"recall@10:      {reached}")
    click.echo(f"last indexed:   {facts.last_indexed_at or 'never'}")
    for root in facts.root_paths:
        click.echo(f"root:           {root}")


@click.command("rebuild-index")
@library_options
@click.option(
    "--index-type",
    default=None,
    help='"auto" (by library size and memory) or a FAISS factory string, e.g. "Flat", '
    '"IVF1024,SQ8", "IVF1024,PQ64", "HNSW32". Default: what the last build used.',
)
@reports_errors
def rebuild_index(library: Path | None, database_url: str | None, index_type: str | None) -> None:
    """Regenerate the vector index from stored embeddings (no re-embedding)."""
    with open_library(library, database_url) as opened:
        index = opened.rebuild_index(index_type=index_type)
    sidecar = index.sidecar
    click.echo(
        f"rebuilt and published {sidecar.index_type} index with {index.count} vectors "
        f"(generation {sidecar.generation})"
    )
    if sidecar.recall_by_kind:
        params = ", ".join(f"{name} {value}" for name, value in sidecar.search_params.items())
        reached = ", ".join(f"{kind} {value:.3f}" for kind, value in sidecar.recall_by_kind.items())
        click.echo(f"tuned {params}: recall@10 {reached}")


@click.command()
@library_options
@reports_errors
def failures(library: Path | None, database_url: str | None) -> None:
    """List the files indexing skipped, and pictures whose text OCR could not read, with the
    reason."""
    with open_library(library, database_url) as opened:
        records = opened.failures()
    for record in records:
        # Escaped: a newline in a file name must not start a line of its own.
        click.echo(f"{terminal_text(record.path)}\t{terminal_text(record.reason)}")
    if not records:
        click.echo("no skipped files")


@click.group()
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
