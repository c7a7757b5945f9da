"""Model packs as files: archives, checks, the models folder, and the hub.

Kept apart from search.model.packs (which the model loader imports on every start) because
none of this runs when a pack is only used.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixsift.search.errors import InvalidInputError, WeightsUnavailableError
from pixsift.search.model.packs import (
    ARCHIVE_SUFFIXES,
    PACK_FILE,
    copy_pack,
    file_digest,
    load_pack,
    models_directory,
    pack_layout,
    pack_model_id,
    read_pack_info,
    resolve_pack,
)

#: Immich's CLIP packs on the Hugging Face hub: ``immich-app/<NAME>``.
IMMICH_ORGANISATION = "immich-app"
PROBE_TEXTS = ("a photo", "a red bicycle leaning on a wall next to a green door")
#: The files of a pack on the hub, in either layout (Immich's repositories also hold towers for
#: other runtimes, which a download leaves out).
HUB_FILES = [
    "config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
    "textual/tokenizer*.json", "textual/special_tokens_map.json", "textual/vocab.json",
    "textual/merges.txt", PACK_FILE, "towers.json", "image.onnx", "image.onnx.data", "text.onnx",
    "text.onnx.data", "text-int8.onnx", "text-int8.onnx.data", "tokenizer.json",
    "clip-bpe-merges.txt", "hf-tokenizer.json", "hf-bpe-tables.bin", "LICENCE.txt", "LICENSE",
    "README.md",
]  # fmt: skip


@dataclass(frozen=True)
class PackCheck:
    """What ``pixsift models verify`` found."""

    directory: Path
    layout: str
    model_id: str
    dimension: int
    files_checked: int
    agreement: dict[str, float]


def archive_pack(directory: Path, archive: Path) -> None:
    """Write ``directory`` as a .tar(.gz) or .zip whose top level is one folder named like it."""
    name = archive.name.lower()
    if not name.endswith(ARCHIVE_SUFFIXES):
        raise InvalidInputError(f"{archive}: an archive ends in {', '.join(ARCHIVE_SUFFIXES)}")
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as opened:
            for path in sorted(directory.rglob("*")):
                opened.write(path, Path(directory.name) / path.relative_to(directory))
        return
    mode = "w:gz" if name.endswith(("gz", ".tgz")) else "w"
    with tarfile.open(archive, mode) as opened:
        opened.add(directory, arcname=directory.name)


def verify_pack(model: str) -> PackCheck:
    """Check a pack: every checksum, then both towers run on probes and give unit vectors of the
    stated dimension. Raises InvalidInputError naming the first thing wrong."""
    directory = resolve_pack(model)
    layout = pack_layout(directory)
    checked, agreement = 0, {}
    if layout == "pixsift":
        info = read_pack_info(directory)
        for relative, expected in info.files.items():
            path = directory / relative
            if not path.is_file():
                raise InvalidInputError(f"{directory}: {relative} is missing")
            if file_digest(path) != expected:
                raise InvalidInputError(f"{directory}: {relative} does not match its checksum")
            checked += 1
        agreement = info.agreement
    embedder = load_pack(directory, threads=1)
    probe = Image.new("RGB", (48, 40), (200, 30, 30))
    vectors = np.concatenate([embedder.embed_images([probe]), embedder.embed_texts(PROBE_TEXTS)])
    if vectors.shape[1] != embedder.dimension:
        raise InvalidInputError(f"{directory}: towers give {vectors.shape[1]} dimensions")
    if not np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3):
        raise InvalidInputError(f"{directory}: the towers give vectors that are not finite")
    return PackCheck(
        directory, str(layout), pack_model_id(directory), embedder.dimension, checked, agreement
    )


def import_pack(model: str, name: str | None = None) -> Path:
    """Verify a pack and copy it into the models folder as ``name`` (default: its own name)."""
    check = verify_pack(model)
    if name is None:
        own = read_pack_info(check.directory).name if check.layout == "pixsift" else ""
        name = own or check.directory.name
    if not name or "/" in name or name.startswith("."):
        raise InvalidInputError(f"{name!r} cannot name a pack (a plain folder name)")
    target = models_directory() / name
    copy_pack(check.directory, target)
    return target


def imported_packs() -> list[tuple[str, Path, str]]:
    """(name, folder, layout) of every pack in the models folder."""
    root = models_directory()
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        layout = pack_layout(child) if child.is_dir() and not child.name.startswith(".") else None
        if layout:
            found.append((child.name, child, layout))
    return found


def hub_repository(name: str) -> str:
    """The hub repository of a downloadable pack name: "ORG/REPO", or Immich's ``NAME``."""
    return name if "/" in name else f"{IMMICH_ORGANISATION}/{name}"


def download_pack(name: str, offline: bool = False) -> Path:
    """Fetch a pack from the Hugging Face hub into the models folder (progress bar; the hub
    client checks each file's SHA-256 against the hub's), then verify it."""
    from pixsift.search.model.checkpoints import reachable

    repository = hub_repository(name)
    target = models_directory() / repository.split("/")[-1]
    url = f"https://huggingface.co/{repository}"
    if offline or os.environ.get("HF_HUB_OFFLINE") == "1" or not reachable(url):
        raise WeightsUnavailableError(
            f"cannot reach {url} from here: on a machine with internet, download that "
            f"repository's files (git clone {url}, or huggingface-cli download {repository} "
            f"--local-dir {target.name}), copy the folder here and run: "
            f"pixsift models import {target.name}  (it is then {target})"
        )
    from huggingface_hub import HfApi, snapshot_download

    try:
        snapshot_download(repository, local_dir=str(target), allow_patterns=HUB_FILES)
        recorded = HfApi().model_info(repository, files_metadata=True).siblings or []
    except (OSError, ValueError) as error:
        raise WeightsUnavailableError(f"downloading {repository} failed: {error}") from error
    _check_hub_digests(target, {s.rfilename: s.lfs.sha256 for s in recorded if s.lfs})
    verify_pack(str(target))
    return target


def _check_hub_digests(target: Path, recorded: dict[str, str]) -> None:
    """Each downloaded large file against the SHA-256 the hub records for it."""
    for relative, expected in recorded.items():
        path = target / relative
        if path.is_file() and file_digest(path) != expected:
            path.unlink()  # a later download fetches it again
            raise WeightsUnavailableError(
                f"{relative} from the hub does not match its SHA-256 ({expected}): "
                "removed; run pixsift models download again"
            )
