"""How long a fresh process takes to load SigLIP2's tokenizer (Gemma's) and tokenize one query,
through each way measured for issue 23 (a CLI query is a short-lived process):

- ``serialised``: tokenizers' ``Tokenizer.from_str`` of the export's hf-tokenizer.json (exports
  before the Python BPE's tables; still the path of every other Hugging Face tokenizer);
- ``tables``: the Python BPE over the hashed tables (search.model.spbpe), what exports now use;
- ``bpe_from_file`` (load only, NOT exact): tokenizers' ``models.BPE.from_file`` over a
  vocab.json and merges.txt; a merges.txt line cannot hold the 31 pieces with a newline, so
  their merges are left out: the lower bound of tokenizers' own loading;
- ``python_dicts`` (load only): Python dictionaries piece -> id and "first second" -> rank built
  from the tables as NUL-separated lists, as the CLIP BPE loads its merges;
- ``ftfy_import``: importing ftfy, which SigLIP's text cleaning needs only for a text ftfy could
  change (printable ASCII without "&" skips it, as CLIP's cleaning already did).

Each is run ``--runs`` times, each in a fresh ``python -c`` process; the median is reported.
numpy and the tokenizer module are imported before the clock starts; the first query includes
the text cleaning (SigLIP's "canonicalize", the same for both). Needs Gemma's tokenizer.json
(see benchmarks/siglip2_tokenizer.py)::

    nice .venv/bin/python -m benchmarks.siglip2_tokenizer_load \
        --tokenizer-json /tmp/gemma/package/models/tokenizer.json
    # -> benchmarks/results/siglip2_tokenizer_load.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

QUERY = "a red bicycle leaning on a wall next to a green door"
_SETUP = (
    "import json, time, numpy\n"
    "from pathlib import Path\n"
    "from pixsift.search.model.tokenizer import load_tokenizer\n"
    "d = Path({folder!r})\n"
)
_TOKENIZER = (
    "settings = json.loads((d / {settings!r}).read_text())\n"
    "t0 = time.perf_counter()\n"
    "tokenizer = load_tokenizer(d, settings)\n"
    "t1 = time.perf_counter()\n"
    "tokenizer([{query!r}])\n"
    "t2 = time.perf_counter()\n"
    "print(json.dumps({{'load_ms': (t1 - t0) * 1e3, 'first_query_ms': (t2 - t1) * 1e3}}))\n"
)
_BPE_FROM_FILE = (
    "t0 = time.perf_counter()\n"
    "from tokenizers import models\n"
    "models.BPE.from_file(str(d / 'vocab.json'), str(d / 'merges.txt'))\n"
    "print(json.dumps({'load_ms': (time.perf_counter() - t0) * 1e3}))\n"
)
_FTFY = (
    "t0 = time.perf_counter()\n"
    "import ftfy\n"
    "print(json.dumps({'load_ms': (time.perf_counter() - t0) * 1e3}))\n"
)
_PYTHON_DICTS = (
    "t0 = time.perf_counter()\n"
    "pieces = (d / 'pieces.txt').read_text(encoding='utf-8').split(chr(0))\n"
    "merges = (d / 'merges.nul').read_text(encoding='utf-8').split(chr(0))\n"
    "ids, ranks = dict(zip(pieces, range(len(pieces)))), dict(zip(merges, range(len(merges))))\n"
    "print(json.dumps({'load_ms': (time.perf_counter() - t0) * 1e3}))\n"
)


def export_folder(tokenizer_json: Path, work: Path) -> Path:
    """The tokenizer files an export of SigLIP2 saves (through open_clip's tokenizer, as
    benchmarks.siglip2_tokenizer makes it), both sidecar settings, and the other options'
    files."""
    from benchmarks.siglip2_tokenizer import MODEL, siglip2_folder
    from pixsift.search.model.hftext import open_clip_tokenizer
    from pixsift.search.model.tokenizer import save_torch_free_tokenizer

    folder = work / "towers"
    folder.mkdir()
    tokenizer = open_clip_tokenizer(MODEL, siglip2_folder(tokenizer_json, work / "siglip2"))
    settings = save_torch_free_tokenizer(tokenizer, folder)
    if settings is None or "bpe_tables" not in settings:
        raise RuntimeError("the export saved no Python BPE tables for SigLIP2's tokenizer")
    (folder / "tables.json").write_text(json.dumps(settings))
    serialised = {key: value for key, value in settings.items() if key != "bpe_tables"}
    (folder / "serialised.json").write_text(json.dumps(serialised))
    model = json.loads((folder / str(settings["file"])).read_text(encoding="utf-8"))["model"]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model["merges"]]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]), encoding="utf-8")
    lines = [merge for merge in merges if "\n" not in merge and "\r" not in merge]
    (folder / "merges.txt").write_text("\n".join(lines), encoding="utf-8")
    pieces = sorted(model["vocab"], key=model["vocab"].__getitem__)
    (folder / "pieces.txt").write_text("\0".join(pieces), encoding="utf-8")
    (folder / "merges.nul").write_text("\0".join(merges), encoding="utf-8")
    return folder


def timed(code: str, runs: int) -> dict[str, Any]:
    """Median (and all) of each figure ``code`` prints, over ``runs`` fresh processes."""
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        rows.append(json.loads(out.stdout.decode().strip().splitlines()[-1]))
    return {
        key: {"median": round(statistics.median(row[key] for row in rows), 2),
              "all": [round(row[key], 2) for row in rows]}
        for key in rows[0]
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer-json", type=Path, required=True, help="Gemma's tokenizer.json")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory(prefix="siglip2-load-") as work:
        folder = export_folder(args.tokenizer_json, Path(work))
        setup = _SETUP.format(folder=str(folder))
        codes = {
            name: setup + _TOKENIZER.format(settings=f"{name}.json", query=QUERY)
            for name in ("serialised", "tables")
        }
        codes["bpe_from_file"] = setup + _BPE_FROM_FILE
        codes["python_dicts"] = setup + _PYTHON_DICTS
        codes["ftfy_import"] = setup + _FTFY
        result: dict[str, Any] = {
            "runs": args.runs,
            "query": QUERY,
            "load_average_before": os.getloadavg(),
            "tables_mib": round((folder / "hf-bpe-tables.bin").stat().st_size / 2**20, 1),
            "serialisation_mib": round((folder / "hf-tokenizer.json").stat().st_size / 2**20, 1),
        }
        for name, code in codes.items():
            result[name] = timed(code, args.runs)
            print(name, json.dumps(result[name]), flush=True)
        result["load_average_after"] = os.getloadavg()
    from benchmarks.common import machine, write_results

    result["machine"] = machine()
    print(write_results("siglip2_tokenizer_load", result))


if __name__ == "__main__":
    main()
