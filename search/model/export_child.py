"""The first-run ONNX export in a child process.

Exporting the towers imports torch and open_clip, builds the torch model and traces it: ~30 s
and ~2 GB at its peak for ViT-B-32, once per model. Run in the user's own process (a first
``pixsift index`` or ``pixsift serve``), that memory stays with the process for the rest of its
life and torch's import with it. Here a child process does the export and exits; the parent
only reads the published towers. The child reports progress on stderr (one line as it starts,
one when done), and the parent adds the child's peak memory to the last line.

    python -m search.model.export_child REQUEST_JSON    (what :func:`export_in_child` runs)
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pixsift.search.errors import PixsiftError
from pixsift.search.model.spec import ModelSpec

#: Exit status of a child whose export was refused or failed with a pixsift error (its JSON
#: answer on stdout says which); anything else non-zero is a crash.
REFUSED = 3


class ExportRefused(Exception):
    """The child ended with a pixsift error: its class path and message, to raise here."""

    def __init__(self, answer: dict[str, str]) -> None:
        super().__init__(answer.get("message", ""))
        self.answer = answer

    def as_error(self) -> PixsiftError:
        """The child's error as its own pixsift class where that can be found, else the base."""
        module_name, _, name = self.answer.get("error", "").rpartition(".")
        message = self.answer.get("message", "the model export failed")
        if module_name.startswith("pixsift.search."):
            try:
                kind = getattr(importlib.import_module(module_name), name)
                if isinstance(kind, type) and issubclass(kind, PixsiftError):
                    return kind(message)
            except (ImportError, AttributeError, TypeError):
                pass
        return PixsiftError(message)


def export_in_child(spec: ModelSpec, directory: Path, threads: int | None) -> None:
    """Export ``spec``'s towers into ``directory`` in a child process and wait for it. Raises
    :class:`ExportRefused` for a pixsift error in the child, PixsiftError if it crashed."""
    request: dict[str, Any] = {
        "spec": asdict(spec),
        "directory": str(directory),
        "threads": threads,
        "model_config": _registered_config(spec.model_name),
    }
    started = time.perf_counter()
    _progress(f"preparing {spec.model_name} for ONNX Runtime (once per model, in a child process)")
    # stderr is the user's: the child's progress and warnings pass straight through.
    completed = subprocess.run(
        [sys.executable, "-m", "pixsift.search.model.export_child", json.dumps(request)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if completed.returncode == REFUSED:
        raise ExportRefused(json.loads(completed.stdout.strip().splitlines()[-1]))
    if completed.returncode != 0:
        raise PixsiftError(
            f"the ONNX export of {spec.model_name} crashed (exit status {completed.returncode})"
        )
    _progress(
        f"{spec.model_name} ready in {time.perf_counter() - started:.0f} s "
        f"(the export's peak memory, {peak_mib:.0f} MiB, was the child's)"
    )


def _registered_config(model_name: str) -> dict[str, Any] | None:
    """The architecture ``model_name`` names where this process registered it with open_clip
    itself (a config added at run time, which a fresh process would not know); None where
    open_clip is not loaded here (the child finds the packaged configs on its own)."""
    open_clip = sys.modules.get("open_clip")
    if open_clip is None:
        return None
    config = open_clip.get_model_config(model_name)
    return dict(config) if config else None


def _progress(line: str) -> None:
    print(f"pixsift: {line}", file=sys.stderr, flush=True)


def _child(request: dict[str, Any]) -> int:
    import torch

    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    if request.get("model_config"):
        import open_clip

        folder = Path(tempfile.mkdtemp(prefix="pixsift-model-config-"))
        name = request["spec"]["model_name"]
        (folder / f"{name}.json").write_text(json.dumps(request["model_config"]))
        open_clip.add_model_config(folder)
    try:
        from pixsift.search.model.embedder import OpenClipEmbedder
        from pixsift.search.model.export import export_towers

        spec = ModelSpec(**request["spec"])
        embedder = OpenClipEmbedder.load(spec, device=torch.device("cpu"))
        export_towers(embedder, Path(request["directory"]))
    except PixsiftError as error:
        kind = type(error)
        answer = {"error": f"{kind.__module__}.{kind.__qualname__}", "message": error.message}
        print(json.dumps(answer), flush=True)
        return REFUSED
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(_child(json.loads(sys.argv[1])))
