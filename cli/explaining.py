"""``pixsift explain``: which regions of a picture raise its score for a query."""

from __future__ import annotations

import re
from pathlib import Path

import click

from pixsift.cli.options import library_options, model_options, open_library, reports_errors
from pixsift.cli.searching import parse_term
from pixsift.search.errors import InvalidInputError
from pixsift.search.explain.records import Explanation
from pixsift.search.model.spec import requested_model_spec
from pixsift.search.query.request import QueryTerm


def parse_subject(value: str) -> int | Path:
    """An indexed image's id (``12`` or ``#12``) or an image file."""
    if re.fullmatch(r"#?\d+", value.strip()):
        return int(value.strip().lstrip("#"))
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"{value!r} is neither an image id nor an image file")
    return path


@click.command()
@click.argument("image_or_id")
@click.argument("text", required=False)
@click.option(
    "--image", type=click.Path(dir_okay=False, path_type=Path), help="Query by an image file."
)
@click.option("--like", "like_id", type=int, help="Query by an indexed image's id.")
@click.option("--add", "added", multiple=True, help="Add a term, as pixsift search takes it.")
@click.option("--subtract", "subtracted", multiple=True, help="Subtract a term (same forms).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the heatmap over the picture to this PNG file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@library_options
@model_options
@reports_errors
def explain(
    image_or_id: str,
    text: str | None,
    image: Path | None,
    like_id: int | None,
    added: tuple[str, ...],
    subtracted: tuple[str, ...],
    output: Path | None,
    as_json: bool,
    library: Path | None,
    database_url: str | None,
    model: str | None,
    pretrained: str | None,
    preprocessing_tag: str | None,
) -> None:
    """Show which regions of IMAGE_OR_ID (an indexed image's id or an image file) raise its
    score for TEXT (and/or --image, --like, --add, --subtract, as pixsift search takes them)."""
    from pixsift.search.explain.render import overlay
    from pixsift.search.explain.service import Explainer

    subject = parse_subject(image_or_id)
    terms: list[QueryTerm] = [QueryTerm(text=text)] if text is not None else []
    terms += [QueryTerm(image_path=image)] if image is not None else []
    terms += [QueryTerm(image_id=like_id)] if like_id is not None else []
    terms += [parse_term(value, 1.0) for value in added]
    terms += [parse_term(value, -1.0) for value in subtracted]
    if not terms:
        raise InvalidInputError("the query is empty: give a text, --image, --like or --add")
    spec = requested_model_spec(model, pretrained, preprocessing_tag)
    with open_library(library, database_url, model_spec=spec) as opened:
        explainer = Explainer(opened)
        picture = explainer.picture(subject)
        explanation = explainer.explain(picture, terms)
    if output is not None:
        try:
            overlay(picture.pixels, explanation).save(output, "PNG", optimize=True)
        except (OSError, ValueError) as error:
            raise InvalidInputError(f"cannot write {output}: {error}") from None
    if as_json:
        click.echo(explanation.model_dump_json(indent=2))
    else:
        print_grid(explanation)


def print_grid(explanation: Explanation) -> None:
    """The score, then what each cell adds to it as a grid (thousandths of cosine similarity;
    ``~`` marks a cell estimated from its coarse block, not measured alone)."""
    heading = f"score {explanation.base_score:.4f}; what each cell adds ({explanation.method})"
    click.echo(f"{heading}, x 1000:")
    estimated = {(cell.row, cell.col) for cell in explanation.cells if not cell.measured}
    for row, values in enumerate(explanation.drops):
        cells = (("~" if (row, col) in estimated else " ", v) for col, v in enumerate(values))
        click.echo(" ".join(f"{value * 1000:7.2f}{mark}" for mark, value in cells))
