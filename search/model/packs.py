"""Model packs: a model as a folder (or a .tar / .zip of one) that runs without torch.

pixsift's own layout (``pixsift models export``)::

    pack.json      name, model id, dimension, SHA-256 of every file, the export's agreement with
                   torch, where the weights came from, the licence note's file name
    towers.json    the towers' sidecar (search.model.ort): preprocessing plan, tokenizer settings
    image.onnx  text.onnx  clip-bpe-merges.txt (or hf-tokenizer.json, + hf-bpe-tables.bin)
    LICENCE.txt    whose weights these are and under which terms

Immich's layout (visual/model.onnx, textual/model.onnx, config.json, ...) is read as it is
(search.model.immich). ``--model`` takes a pack's folder or archive, or the name of a pack that
``pixsift models import`` (or ``download``) put in the models folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from platformdirs import user_data_path

from pixsift.search import settings
from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.model.checkpoints import checkpoint_digest, default_cache_directory
from pixsift.search.model.ort import SIDECAR_NAME, OnnxEmbedder, TowersInfo
from pixsift.search.model.pixels import PixelPlan, PlannedPreprocess
from pixsift.search.model.query_tower import INT8_TEXT_FILE, query_tower_choice
from pixsift.search.model.tokenizer import load_tokenizer

if TYPE_CHECKING:  # Immich's layout is read only where a pack has it (a search imports none of it)
    from pixsift.search.model.immich import ImmichEmbedder

PACK_FILE = "pack.json"
LICENCE_FILE = "LICENCE.txt"
PACK_FORMAT = 1
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
Layout = Literal["pixsift", "immich"]


@dataclass(frozen=True)
class PackInfo:
    """``pack.json`` of a pixsift pack."""

    name: str
    model_id: str
    dimension: int
    #: Path relative to the pack -> SHA-256 of its bytes (every file but pack.json).
    files: dict[str, str]
    #: Smallest cosine between the ONNX towers' and torch's vectors on the export's probes.
    agreement: dict[str, float] = field(default_factory=dict)
    #: What the towers were exported from: open_clip model name and weights (tag or file name).
    source: dict[str, str] = field(default_factory=dict)
    licence: str = LICENCE_FILE
    format: int = PACK_FORMAT


def models_directory() -> Path:
    configured = settings.MODELS_DIRECTORY.value()
    return (
        Path(str(configured)).expanduser() if configured else user_data_path("pixsift") / "models"
    )


def pack_layout(directory: Path) -> Layout | None:
    """Which layout ``directory`` holds, or None where it is not a pack."""
    if (directory / PACK_FILE).is_file() and (directory / SIDECAR_NAME).is_file():
        return "pixsift"
    from pixsift.search.model.immich import is_immich_pack

    if is_immich_pack(directory):
        return "immich"
    return None


def find_pack(model: str | None) -> Path | None:
    """The pack folder ``model`` names (a folder, an archive, or an imported pack's name), or
    None where ``model`` is not a pack (an open_clip model name). Cheap: no model is read."""
    if not model:
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        return path if pack_layout(path) else None
    if path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return unpacked_archive(path)
    if "/" in model or model.startswith("."):
        return None
    imported = models_directory() / model
    return imported if imported.is_dir() and pack_layout(imported) else None


def read_pack_info(directory: Path) -> PackInfo:
    try:
        raw = json.loads((directory / PACK_FILE).read_text(encoding="utf-8"))
        info = PackInfo(**raw)
    except (OSError, ValueError, TypeError) as error:
        raise InvalidInputError(f"{directory / PACK_FILE} is not a pixsift pack file") from error
    if info.format != PACK_FORMAT:
        raise InvalidInputError(
            f"{directory} is a pack of format {info.format}; this pixsift reads {PACK_FORMAT}"
        )
    return info


def pack_model_id(directory: Path) -> str:
    """The model id a pack's vectors are stored under: the exported model's (so a library indexed
    with torch searches with its pack); for an Immich pack, the towers' content hash."""
    if pack_layout(directory) == "pixsift":
        return read_pack_info(directory).model_id
    cache = default_cache_directory()
    digests = [
        checkpoint_digest(directory / tower / "model.onnx", cache)
        for tower in ("visual", "textual")
    ]
    return f"immich:sha256-{hashlib.sha256(''.join(digests).encode()).hexdigest()[:16]}"


def load_pack(
    directory: Path, threads: int | None = None, *, quick_start: bool = False
) -> OnnxEmbedder | ImmichEmbedder:
    """The towers of the pack in ``directory``, on ONNX Runtime (no torch); ``quick_start``:
    sessions for a short-lived process (search.model.loading.start_quickly)."""
    model_id = pack_model_id(directory)
    if pack_layout(directory) == "immich":
        from pixsift.search.model.immich import ImmichEmbedder

        return ImmichEmbedder(directory, model_id, threads=threads)
    raw = json.loads((directory / SIDECAR_NAME).read_text(encoding="utf-8"))
    info = TowersInfo(**raw)
    if info.pixels is None or info.tokenizer is None:
        raise InvalidInputError(f"{directory}: a pack needs a torch-free tokenizer and pixel plan")
    # A pack runs as it is: by default its own int8 text tower if it ships one, else its fp32
    # one; the int8 copy is written into the pack's folder only when the user asks for int8.
    query_tower = query_tower_choice()
    if query_tower == "auto" and not (directory / INT8_TEXT_FILE).is_file():
        query_tower = "fp32"
    return OnnxEmbedder(
        directory,
        info,
        PlannedPreprocess(PixelPlan.from_json(info.pixels)),
        load_tokenizer(directory, info.tokenizer),
        threads=threads,
        quick_start=quick_start,
        query_tower=query_tower,
    )


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as opened:
        for block in iter(lambda: opened.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_pack_info(
    directory: Path, *, name: str, towers: TowersInfo, source: dict[str, str], licence: str
) -> PackInfo:
    """Write the licence note and ``pack.json`` (checksums of everything else) into a folder that
    holds exported towers."""
    (directory / LICENCE_FILE).write_text(licence.rstrip() + "\n", encoding="utf-8")
    files = {
        path.relative_to(directory).as_posix(): file_digest(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != PACK_FILE
    }
    info = PackInfo(
        name=name,
        model_id=towers.model_id,
        dimension=towers.dimension,
        files=files,
        agreement=dict(towers.agreement),
        source=source,
    )
    (directory / PACK_FILE).write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
    return info


def resolve_pack(model: str) -> Path:
    """The pack ``model`` names, or NotFoundError saying what was looked for."""
    found = find_pack(model)
    if found is None:
        raise NotFoundError(
            f"{model} is not a model pack: give a pack's folder or .tar/.zip, or the name of an "
            f"imported one (in {models_directory()}; pixsift models list)"
        )
    return found


def copy_pack(source: Path, target: Path) -> None:
    """Copy a pack folder to ``target`` (replacing it) through a staging folder beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.importing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def unpacked_archive(archive: Path) -> Path:
    """The pack inside ``archive``, unpacked once into the cache (by content hash)."""
    cache = default_cache_directory()
    target = cache / "packs" / checkpoint_digest(archive, cache)[:16]
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=_made(target.parent)))
        try:
            _extract(archive, staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _pack_root(target, archive)


def _made(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _extract(archive: Path, target: Path) -> None:
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as opened:
                for member in opened.namelist():  # no absolute paths nor ".." out of target
                    if not (target / member).resolve().is_relative_to(target.resolve()):
                        raise InvalidInputError(f"{archive}: {member} points outside the archive")
                opened.extractall(target)
        else:
            with tarfile.open(archive) as opened:
                opened.extractall(target, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as error:
        raise InvalidInputError(f"cannot unpack {archive}: {error}") from error


def _pack_root(unpacked: Path, archive: Path) -> Path:
    """The pack folder: the archive's top level, or its single folder."""
    if pack_layout(unpacked):
        return unpacked
    children = [child for child in unpacked.iterdir() if child.is_dir()]
    if len(children) == 1 and pack_layout(children[0]):
        return children[0]
    raise InvalidInputError(f"{archive} holds no model pack (no {PACK_FILE}, no visual/model.onnx)")
