"""``pixsift search`` and ``pixsift duplicates``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from pixsift.cli.options import (
    library_options,
    model_field_options,
    model_options,
    open_library,
    reports_errors,
)
from pixsift.search.filenames import terminal_text
from pixsift.search.media.imagefile import SUPPORTED_EXTENSIONS
from pixsift.search.model.loading import start_quickly
from pixsift.search.model.spec import requested_model_spec
from pixsift.search.query.duplicates import DEFAULT_DUPLICATE_THRESHOLD
from pixsift.search.query.export import hits_to_csv, hits_to_json
from pixsift.search.query.request import (
    RESULT_ORDERS,
    SEARCH_MODES,
    QueryTerm,
    RankingOptions,
    SearchFilters,
    SearchPage,
    SearchRequest,
)


def parse_term(value: str, weight_sign: float) -> QueryTerm:
    """``TEXT``, ``IMAGE_PATH``, ``#ID`` (an indexed image), each optionally ``WEIGHT*...``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*\*(.+)", value, flags=re.DOTALL)
    weight, body = (float(match.group(1)), match.group(2)) if match else (1.0, value)
    weight *= weight_sign
    if re.fullmatch(r"#\d+", body.strip()):
        return QueryTerm(image_id=int(body.strip()[1:]), weight=weight)
    candidate = Path(body).expanduser()
    if candidate.suffix.lower() in SUPPORTED_EXTENSIONS and candidate.is_file():
        return QueryTerm(image_path=candidate, weight=weight)
    return QueryTerm(text=body, weight=weight)


@click.command()
@click.argument("text", required=False)
@click.option("-k", "--top", "k", default=10, show_default=True, help="Results per page.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1), help="Page number.")
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Search by an example image file.",
)
@click.option("--like", "image_id", type=int, help="Search by an indexed image's id.")
@click.option(
    "--add",
    "added",
    multiple=True,
    help="Add a term: text, image path or #ID; optional weight as 'WEIGHT*term'. Repeatable.",
)
@click.option(
    "--subtract",
    "subtracted",
    multiple=True,
    help="Subtract a term (same forms as --add). Repeatable.",
)
@click.option("--mode", type=click.Choice(SEARCH_MODES), default="hybrid", show_default=True)
@click.option("--order", type=click.Choice(RESULT_ORDERS), default="score", show_default=True)
@click.option(
    "--min-score",
    type=click.FloatRange(-1, 1),
    help=RankingOptions.model_fields["min_score"].description,
)
@click.option("--collapse-duplicates", is_flag=True, help="One result per near-duplicate group.")
@click.option("--weaker", is_flag=True, help=RankingOptions.model_fields["weaker"].description)
@click.option(
    "--match-probability",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help=RankingOptions.model_fields["match_probability"].description,
)
@click.option(
    "--no-stacks",
    is_flag=True,
    help="Every copy of a burst or RAW+JPEG pair as its own result (default: one per stack).",
)
@click.option(
    "--literal",
    is_flag=True,
    help="Search the words as written: no place names or dates read as filters.",
)
@model_field_options(SearchFilters)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print results as CSV.")
@library_options
@model_options
@reports_errors
def search(
    text: str | None,
    k: int,
    page: int,
    image: Path | None,
    image_id: int | None,
    added: tuple[str, ...],
    subtracted: tuple[str, ...],
    mode: str,
    order: str,
    min_score: float | None,
    collapse_duplicates: bool,
    weaker: bool,
    match_probability: float | None,
    no_stacks: bool,
    literal: bool,
    as_json: bool,
    as_csv: bool,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
    **filter_values: Any,
) -> None:
    """Find the images most like TEXT (and/or --image FILE, --like ID, --add/--subtract terms)."""
    start_quickly()  # one query, then the process ends: no session set-up that pays off later
    request = SearchRequest(
        _terms(text, image, image_id, added, subtracted),
        filters=SearchFilters.parse(
            {name: value for name, value in filter_values.items() if value not in (None, ())}
        ),
        mode=mode,  # type: ignore[arg-type]
        k=k,
        offset=(page - 1) * k,
        min_score=min_score,
        order=order,  # type: ignore[arg-type]
        collapse=collapse_duplicates,
        weaker=weaker,
        match_probability=match_probability,
        interpret=not literal,
        stacks=not no_stacks,
    )
    spec = requested_model_spec(model, pretrained, preprocessing_tag)
    with open_library(library, database_url, model_spec=spec) as opened:
        if opened.store.model_id() is None:
            raise click.ClickException(
                "the library is empty: index a folder first (pixsift index DIR)"
            )
        result = opened.find(request)
    _say_how_it_was_read(result)
    if as_json:
        click.echo(hits_to_json(result.hits))
    elif as_csv:
        click.echo(hits_to_csv(result.hits), nl=False)
    else:
        _print_hits(result)


def _terms(
    text: str | None,
    image: Path | None,
    image_id: int | None,
    added: tuple[str, ...],
    subtracted: tuple[str, ...],
) -> tuple[QueryTerm, ...]:
    terms = []
    if text is not None:
        terms.append(QueryTerm(text=text))
    if image is not None:
        terms.append(QueryTerm(image_path=image))
    if image_id is not None:
        terms.append(QueryTerm(image_id=image_id))
    terms += [parse_term(value, 1.0) for value in added]
    terms += [parse_term(value, -1.0) for value in subtracted]
    return tuple(terms)


def _say_how_it_was_read(result: SearchPage) -> None:
    """Place names and dates read as filters, on stderr (stdout stays the results)."""
    if result.interpretation is None:
        return
    read = "; ".join(f"{part.words!r} as {part.kind}" for part in result.interpretation.parts)
    click.echo(
        f"read {read}; searching {result.interpretation.text!r} (--literal: as written)", err=True
    )


def clock(seconds: float) -> str:
    """A time in a video as m:ss (h:mm:ss from an hour on)."""
    minutes, whole_seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}:{minutes:02d}:{whole_seconds:02d}" if hours else f"{minutes}:{whole_seconds:02d}"
    )


def _print_hits(result: SearchPage) -> None:
    """One line per result: cosine similarity, path (a video's moment as path@mm:ss), image id
    (for --like) and how good a match it is (search.query.relevance); a video's other moments
    among the results on the next line."""
    if not result.hits:
        click.echo("no results")
        if not result.request.weaker:
            click.echo("nothing matched well: --weaker shows weaker matches", err=True)
    for hit in result.hits:
        similarity = hit.score if hit.similarity is None else hit.similarity
        where = terminal_text(hit.image.absolute_path)
        if hit.image.offset_s is not None:
            where += "@" + clock(hit.image.offset_s)
        band = f"  {hit.band}" if hit.band else ""
        if hit.probability is not None:
            band += f" (p {hit.probability:.2f})"
        stacked = f"  (+{len(hit.stack) - 1} in stack)" if len(hit.stack) > 1 else ""
        click.echo(f"{similarity:.4f}  {where}  #{hit.id}{band}{stacked}")
        others = [m for m in hit.moments if m.image.id != hit.id]
        if others:
            moments = ", ".join(f"{clock(m.image.offset_s or 0)} #{m.image.id}" for m in others)
            click.echo(f"        also at {moments}")
    if result.next_offset is not None:
        next_page = result.next_offset // result.request.k + 1
        click.echo(f"more results: --page {next_page}", err=True)


@click.command()
@click.option(
    "--threshold",
    default=DEFAULT_DUPLICATE_THRESHOLD,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Minimum cosine similarity.",
)
@click.option("--json", "as_json", is_flag=True, help="Print groups as JSON.")
@library_options
@reports_errors
def duplicates(
    threshold: float, as_json: bool, library: Path | None, database_url: str | None
) -> None:
    """Group near-identical images (re-encodes, resizes, small crops)."""
    with open_library(library, database_url) as opened:
        groups = opened.duplicate_groups(threshold)
        records = opened.images([image_id for group in groups for image_id in group])
    if as_json:
        payload = [[{"id": i, "path": records[i].absolute_path} for i in group] for group in groups]
        click.echo(json.dumps(payload, indent=2))
        return
    if not groups:
        click.echo("no near-duplicates")
    for number, group in enumerate(groups, 1):
        click.echo(f"group {number} ({len(group)} images)")
        for image_id in group:
            click.echo(f"  #{image_id}  {terminal_text(records[image_id].absolute_path)}")
