"""``pixsift eval``: recalls of a library whose answers are known, captions files, errors.

The library is planted: each captioned picture's stored embedding is its caption's own text
embedding (a perfect model) except two, whose embedding is the opposite (the worst model), among
200 random pictures. So every figure is known before the search runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pixsift.cli.main import main
from pixsift.search.errors import InvalidInputError
from pixsift.search.evaluation.captions import read_captions
from pixsift.search.evaluation.retrieval import EvaluationOptions, evaluate
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.records import ImageFacts, l2_normalise
from pixsift.search.storage.store import IndexingBatch, NewImage

CAPTIONS = [
    "a red star on a plain background",
    "two blue rings at the top",
    "a small green triangle to the left of a square",
    "a yellow heart in the centre",
    "an orange moon over stripes",
    "a purple cross on noise",
    "a white arrow pointing right",
    "a black hexagon with a printed word",
    "a pink crescent at the bottom",
    "a grey diamond next to a blue star",
]
#: Captioned pictures whose embedding is the opposite of their caption's: never found.
FLIPPED = {8, 9}
FILLERS = 200


def plant(library: Library, embedder: OpenClipEmbedder) -> None:
    library.claim_model(embedder)
    root_id = library.store.ensure_root(b"/planted")
    texts = embedder.embed_texts(CAPTIONS)
    signs = np.array([-1.0 if i in FLIPPED else 1.0 for i in range(len(CAPTIONS))])
    fillers = l2_normalise(
        np.random.default_rng(3).standard_normal((FILLERS, embedder.dimension)).astype(np.float32)
    )
    vectors = np.concatenate([texts * signs[:, None], fillers]).astype(np.float32)
    names = [f"pic-{i}.jpg" for i in range(len(CAPTIONS))] + [f"z-{i}.jpg" for i in range(FILLERS)]
    facts = ImageFacts(width=64, height=64, format="JPEG")
    batch = IndexingBatch(
        [
            NewImage(root_id, f"/planted/{name}".encode(), name, 1, 0, f"h{i}", facts, vector)
            for i, (name, vector) in enumerate(zip(names, vectors, strict=True))
        ],
        [],
        [],
    )
    library.store.commit_batch(batch, embedder.model_id)
    library.publish_index()


@pytest.fixture
def planted(library: Library, tiny_embedder: OpenClipEmbedder) -> Library:
    plant(library, tiny_embedder)
    return library


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def caption_rows() -> list[dict]:
    # Absolute paths, and one path relative to the indexed root.
    rows = [{"path": f"/planted/pic-{i}.jpg", "caption": text} for i, text in enumerate(CAPTIONS)]
    rows[0]["path"] = "pic-0.jpg"
    return rows


def test_known_recalls_per_mode_and_direction(planted: Library, tmp_path: Path) -> None:
    captions_file = write_jsonl(
        tmp_path / "captions.jsonl",
        [*caption_rows(), {"path": "/planted/absent.jpg", "caption": "not indexed"}],
    )
    report = evaluate(planted, read_captions(captions_file), captions_file, EvaluationOptions())
    assert report.captions == 10 and report.pictures == 10
    assert report.missing == ["/planted/absent.jpg"]
    modes = {figures.mode: figures for figures in report.text_to_image}
    semantic = modes["semantic"]
    # 8 of 10 pictures are their caption's exact embedding; the two flipped ones rank last of
    # 210, beyond the depth of 100.
    assert semantic.recall == {"R@1": 0.8, "R@5": 0.8, "R@10": 0.8}
    assert semantic.median_rank == 1
    assert {result.path for result in semantic.worst} == {
        "/planted/pic-8.jpg",
        "/planted/pic-9.jpg",
    }
    assert all(result.rank is None for result in semantic.worst)
    # The captions name nothing in the file names: hybrid ranks exactly as semantic does, and
    # keyword mode finds nothing.
    assert modes["hybrid"].recall == semantic.recall
    assert modes["keyword"].recall == {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0}
    assert modes["keyword"].median_rank is None
    # The default list keeps every picture that was found (an exact match stands out).
    assert semantic.cutoff_recall == 0.8
    # Image to text: each planted picture's own caption is its nearest text, except the
    # flipped ones, whose own caption is the farthest of ten.
    assert report.image_to_text is not None
    assert report.image_to_text.recall == {"R@1": 0.8, "R@5": 0.8, "R@10": 1.0}


def test_eval_command_table_and_json(
    planted: Library, tmp_path: Path, tiny_spec: ModelSpec
) -> None:
    captions_file = tmp_path / "captions.csv"
    lines = ["path,caption", *(f'{row["path"]},"{row["caption"]}"' for row in caption_rows())]
    captions_file.write_text("\n".join(lines) + "\n")
    url = planted.store.engine.url.render_as_string(hide_password=False)
    args = ["--library", str(planted.directory), "--model", tiny_spec.model_name,
            "--pretrained", tiny_spec.pretrained]  # fmt: skip
    if not url.startswith("sqlite"):
        args += ["--database-url", url]
    runner = CliRunner()
    result = runner.invoke(main, ["eval", str(captions_file), "--mode", "semantic", *args])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("text->image"))
    assert row.split()[1:5] == ["semantic", "0.800", "0.800", "0.800"]
    assert "worst queries (semantic):" in result.output
    result = runner.invoke(main, ["eval", str(captions_file), "--json", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [mode["mode"] for mode in report["text_to_image"]] == ["semantic", "keyword", "hybrid"]
    assert report["image_to_text"]["recall"]["R@10"] == 1.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.jsonl", '{"path": "a.jpg", "caption": "x"}\nnot json\n', "line 2: not JSON"),
        ("c.jsonl", '{"path": "a.jpg"}\n', "line 1: the caption is missing or empty"),
        ("c.csv", "path,caption\na.jpg,x,y\n", "line 2: expected 2 columns"),
        ("c.json", '{"pictures": []}', "expected the Karpathy split form"),
        ("c.txt", "a.jpg x", "a captions file is .jsonl, .csv or .json"),
        ("c.jsonl", "\n\n", "no captions found"),
    ],
)
def test_bad_captions_file_is_one_line_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        read_captions(path)
    assert "\n" not in str(caught.value)
    result = CliRunner().invoke(main, ["eval", str(path), "--library", str(tmp_path / "lib")])
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_karpathy_split_reads_the_chosen_split(tmp_path: Path) -> None:
    document = {
        "images": [
            {"filepath": "val2014", "filename": "a.jpg", "split": "test",
             "sentences": [{"raw": "A dog."}, {"raw": "A  brown dog ."}]},
            {"filepath": "val2014", "filename": "b.jpg", "split": "train",
             "sentences": [{"raw": "A cat."}]},
        ]
    }  # fmt: skip
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(document))
    test_captions = read_captions(path)
    assert [(c.path, c.text) for c in test_captions] == [
        ("val2014/a.jpg", "A dog."),
        ("val2014/a.jpg", "A brown dog ."),
    ]
    assert len(read_captions(path, split="all")) == 3


def test_no_indexed_picture_is_a_clear_error(planted: Library, tmp_path: Path) -> None:
    captions_file = write_jsonl(tmp_path / "c.jsonl", [{"path": "nowhere.jpg", "caption": "x"}])
    with pytest.raises(InvalidInputError, match="none of the 1 pictures"):
        evaluate(planted, read_captions(captions_file), captions_file)
