"""``pixsift models``: model packs (a model's ONNX towers, tokenizer, preprocessing plan,
checksums and licence note in one folder) that run without torch. See search.model.packs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from pixsift.cli.options import reports_errors
from pixsift.search.errors import InvalidInputError
from pixsift.search.model.pack_files import (
    ARCHIVE_SUFFIXES,
    archive_pack,
    download_pack,
    import_pack,
    imported_packs,
    verify_pack,
)
from pixsift.search.model.packs import models_directory, pack_layout, pack_model_id
from pixsift.search.model.requirements import require_torch
from pixsift.search.model.spec import ModelSpec


@click.group()
def models() -> None:
    """Model packs: list, export, verify, import, download."""


@models.command("list")
@reports_errors
def list_command() -> None:
    """The packs in the models folder (``--model NAME`` finds them)."""
    packs = imported_packs()
    click.echo(f"models folder: {models_directory()}")
    for name, directory, layout in packs:
        click.echo(f"{name}\t{layout}\t{pack_model_id(directory)}\t{directory}")
    if not packs:
        click.echo("no packs yet: pixsift models import DIR, or pixsift models download NAME")


@models.command("export")
@click.argument("model")
@click.option("--pretrained", required=True, help="open_clip tag or path of a checkpoint file.")
@click.option("--preprocessing-tag", help="With a checkpoint file: the tag it was trained as.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The pack's folder, or a .tar / .tar.gz / .zip to write.")  # fmt: skip
@click.option("--name", help="The pack's name (default: the output's name).")
@click.option("--licence-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The weights' licence text, shipped as the pack's LICENCE.txt.")  # fmt: skip
@reports_errors
def export_command(
    model: str,
    pretrained: str,
    preprocessing_tag: str | None,
    output: Path,
    name: str | None,
    licence_file: Path | None,
) -> None:
    """Export MODEL's towers (needs torch) into a pack checked against torch."""
    require_torch("pixsift models export")
    from pixsift.cli.model_export import export_pack

    archive = output.name.lower().endswith(ARCHIVE_SUFFIXES)
    pack_name = name or _stem(output)
    if not archive and output.exists() and any(output.iterdir()) and not pack_layout(output):
        raise InvalidInputError(f"{output} exists and is not a pack: give a new folder")
    spec = ModelSpec(model_name=model, pretrained=pretrained, preprocessing_tag=preprocessing_tag)
    licence = licence_file.read_text(encoding="utf-8") if licence_file else None
    if not archive:
        info = export_pack(spec, output, pack_name, licence)
    else:
        with tempfile.TemporaryDirectory(dir=output.parent) as staging:
            folder = Path(staging) / pack_name
            info = export_pack(spec, folder, pack_name, licence)
            archive_pack(folder, output)
    agreement = ", ".join(f"{tower} {value:.6f}" for tower, value in info.agreement.items())
    click.echo(
        f"exported {info.model_id} ({info.dimension} dimensions) to {output}; "
        f"cosine with torch: {agreement}"
    )


@models.command("verify")
@click.argument("pack")
@reports_errors
def verify_command(pack: str) -> None:
    """Check a pack's checksums and run its towers."""
    check = verify_pack(pack)
    agreement = ", ".join(f"{tower} {value:.6f}" for tower, value in check.agreement.items())
    checksums = (
        f"{check.files_checked} files match their checksums"
        if check.layout == "pixsift"
        else "no checksums in this layout: both towers ran"
    )
    click.echo(
        f"ok: {check.directory} ({check.layout} layout, model {check.model_id}, "
        f"{check.dimension} dimensions, {checksums}"
        + (f", cosine with torch at export: {agreement})" if agreement else ")")
    )


@models.command("import")
@click.argument("pack")
@click.option("--name", help="Name to import it as (default: the pack's own).")
@reports_errors
def import_command(pack: str, name: str | None) -> None:
    """Verify a pack (folder or archive) and copy it into the models folder."""
    target = import_pack(pack, name)
    click.echo(f"imported {target.name} into {target}: use --model {target.name}")


@models.command("download")
@click.argument("name")
@reports_errors
def download_command(name: str) -> None:
    """Fetch a pack from the Hugging Face hub: ORG/REPO, or an Immich model name such as
    ViT-B-32__openai (immich-app/NAME)."""
    target = download_pack(name)
    click.echo(f"downloaded and verified {target}: use --model {target.name}")


def _stem(output: Path) -> str:
    name = output.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
