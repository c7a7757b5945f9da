"""Describing pictures: the CoCa captioner (a tiny config at seeded random weights), the
describing pass, where descriptions go (the record, keyword search) and bad input."""

from __future__ import annotations

import html
import json
from pathlib import Path

import open_clip
import pytest
import torch
from click.testing import CliRunner
from conftest import write_pictures
from PIL import Image

from pixsift.cli.main import main as cli
from pixsift.indexer.describing import describe_enabled, describe_pending
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.caption.coca import CocaCaptioner
from pixsift.search.caption.protocol import CaptionerSpec
from pixsift.search.description_edits import DescriptionText, LibraryDescriptions
from pixsift.search.errors import InvalidInputError, WeightsUnavailableError
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.storage.descriptions import MANUAL, Described, write_descriptions
from pixsift.search.storage.models import ImageDescription
from pixsift.search.storage.rows import utc_now
from pixsift.web.app import create_app

TINY_COCA = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32,
                   "attentional_pool": True, "attn_pooler_queries": 8, "attn_pooler_heads": 2,
                   "output_tokens": True},
    "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2,
                 "embed_cls": True, "output_tokens": True},
    "multimodal_cfg": {"context_length": 20, "vocab_size": 49408, "width": 64, "heads": 2,
                       "layers": 2, "attn_pooler_heads": 2},
    "custom_text": True,
}  # fmt: skip


@pytest.fixture(scope="session")
def coca_spec(tmp_path_factory: pytest.TempPathFactory) -> CaptionerSpec:
    """A tiny CoCa config file and a checkpoint of seeded random weights."""
    folder = tmp_path_factory.mktemp("coca")
    config = folder / "pixsift-test-coca.json"
    config.write_text(json.dumps(TINY_COCA))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(config.stem, pretrained=None)
    # open_clip leaves the decoder's output layer uninitialised (torch.empty): seed it.
    torch.nn.init.normal_(model.text_decoder.text_projection, std=0.125)
    checkpoint = folder / "coca.pt"
    torch.save(model.state_dict(), checkpoint)
    return CaptionerSpec(model_name=str(config), pretrained=str(checkpoint))


@pytest.fixture(scope="session")
def captioner(coca_spec: CaptionerSpec) -> CocaCaptioner:
    return CocaCaptioner.load(coca_spec)


def model_options(tiny_spec) -> list[str]:
    return ["--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained]


def caption_options(coca_spec: CaptionerSpec) -> list[str]:
    return ["--caption-model", coca_spec.model_name, "--caption-pretrained", coca_spec.pretrained]


def options() -> IndexingOptions:
    return IndexingOptions(batch_size=4, workers=1, show_progress=False, tag=False)


def keyword_names(library: Library, words: str) -> set[str]:
    request = SearchRequest((QueryTerm(text=words),), mode="keyword", k=20)
    return {hit.image.name for hit in library.find(request).hits}


def pictures(count: int) -> list[Image.Image]:
    return [Image.effect_mandelbrot((40 + 8 * i, 40), (-2, -1.5, 1, 1.5), 20 + i).convert("RGB")
            for i in range(count)]  # fmt: skip


def test_a_batch_is_described_as_each_picture_alone(captioner: CocaCaptioner) -> None:
    batch = pictures(3)
    together = captioner.describe(batch)
    assert len(together) == 3 and all(isinstance(text, str) and text for text in together)
    assert together == [captioner.describe([picture])[0] for picture in batch]
    assert captioner.describe([]) == []
    assert captioner.captioner_id.startswith("pixsift-test-coca:sha256-")


def test_missing_weights_say_what_to_fetch_and_where_to_pass_it(
    coca_spec: CaptionerSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(WeightsUnavailableError, match="--caption-pretrained"):
        CocaCaptioner.load(CaptionerSpec(coca_spec.model_name, str(tmp_path / "absent.pt")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(WeightsUnavailableError, match=r"coca_ViT-B-32.*--caption-pretrained"):
        CocaCaptioner.load(CaptionerSpec())


def test_a_model_that_cannot_caption_is_refused(tiny_model_config_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a captioning model"):
        CocaCaptioner.load(CaptionerSpec("pixsift-test-tiny", "x.pt"))


def test_described_pictures_are_in_the_record_and_found_by_their_words(
    library: Library, tiny_embedder: OpenClipEmbedder, captioner: CocaCaptioner, tmp_path: Path
) -> None:
    write_pictures(tmp_path / "pictures", 5)
    Indexer(library, tiny_embedder, options()).index([tmp_path / "pictures"])
    done = describe_pending(library, captioner, batch_size=2, show_progress=False)
    assert (done.described, done.failed) == (5, 0)
    records = library.images(list(range(1, 6)))
    assert {record.caption_by for record in records.values()} == {captioner.captioner_id}
    expected = captioner.describe([Image.open(r.file_path) for r in records.values()])
    assert [r.caption for r in records.values()] == expected
    # A word of one picture's description finds that picture by keyword.
    counts = {}
    for record in records.values():
        for word in set(record.caption.split()):
            counts.setdefault(word, set()).add(record.name)
    word, names = min(((w, n) for w, n in counts.items() if w.isalpha()), key=lambda x: len(x[1]))
    assert names <= keyword_names(library, word)
    again = describe_pending(library, captioner, show_progress=False)
    assert (again.described, again.failed) == (0, 0)  # resumable: nothing done twice
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    shown = client.get("/api/images/1").get_json()
    assert (shown["caption"], shown["caption_by"]) == (records[1].caption, captioner.captioner_id)
    page = client.get("/images/1").get_data(as_text=True)
    assert html.escape(records[1].caption, quote=True) in page


def test_a_hand_written_description_is_never_replaced(
    library: Library, tiny_embedder: OpenClipEmbedder, captioner: CocaCaptioner, tmp_path: Path
) -> None:
    write_pictures(tmp_path / "pictures", 2)
    Indexer(library, tiny_embedder, options()).index([tmp_path / "pictures"])
    with library.store.session() as session:
        session.add(ImageDescription(image_id=1, text="zanzibar harbour at dawn",
                                     captioner=MANUAL, source=MANUAL, described_at=utc_now()))  # fmt: skip
    done = describe_pending(library, captioner, show_progress=False)
    assert done.described == 1
    record = library.image(1)
    assert (record.caption, record.caption_by) == ("zanzibar harbour at dawn", MANUAL)
    with library.store.session() as session:  # even a writer handed the picture keeps it
        write_descriptions(session, [Described(1, "a generated sentence")], "some-captioner")
    assert library.image(1).caption == "zanzibar harbour at dawn"


def test_index_describe_and_describe_commands(
    coca_spec: CaptionerSpec, tiny_spec, tmp_path: Path
) -> None:
    write_pictures(tmp_path / "pictures", 3)
    write_pictures(tmp_path / "more", 2, first_seed=10)
    common = ["--library", str(tmp_path / "library")]
    model, caption = model_options(tiny_spec), caption_options(coca_spec)
    runner = CliRunner()
    first = runner.invoke(cli, ["index", str(tmp_path / "pictures"), "--describe", "--no-tags",
                                "--no-progress", *common, *model, *caption])  # fmt: skip
    assert first.exit_code == 0, first.output
    assert "described 3 pictures" in first.output
    # Remembered: a later run describes what it adds, with the library's captioner.
    second = runner.invoke(cli, ["index", str(tmp_path / "more"), "--no-tags", "--no-progress",
                                 *common])  # fmt: skip
    assert second.exit_code == 0, second.output
    assert "described 2 pictures" in second.output
    fill = runner.invoke(cli, ["describe", "--all", *common])
    assert fill.exit_code == 0 and "described 0 pictures" in fill.output, fill.output
    one = runner.invoke(cli, ["describe", "2", *common])
    with Library.open(tmp_path / "library") as opened:
        assert describe_enabled(opened)
        assert one.exit_code == 0 and one.output.strip() == opened.image(2).caption
    missing = runner.invoke(cli, ["describe", "99", *common])
    assert missing.exit_code == 1 and "no indexed image has id 99" in missing.output
    neither = runner.invoke(cli, ["describe", *common])
    assert neither.exit_code == 1 and "--all" in neither.output
    absent = runner.invoke(cli, ["index", str(tmp_path / "more"), "--describe", *common,
                                 "--caption-pretrained", str(tmp_path / "no.pt")])  # fmt: skip
    assert absent.exit_code == 1 and "--caption-pretrained" in absent.output


def test_keyword_search_ranks_pictures_by_how_well_their_descriptions_match(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    """On both databases: a description that holds more of the words ranks first, whatever the
    ids (PostgreSQL once ranked matches found through a description all alike, by id)."""
    write_pictures(tmp_path / "pictures", 4)
    Indexer(library, tiny_embedder, options()).index([tmp_path / "pictures"])
    descriptions = LibraryDescriptions(library)
    texts = {1: "a blue star on a plain background", 2: "a green ring",
             3: "a red circle", 4: "a red star on a red star background"}  # fmt: skip
    for image_id, text in texts.items():
        descriptions.write(image_id, DescriptionText(text=text))
    request = SearchRequest((QueryTerm(text="red star"),), mode="keyword", k=10)
    ranked = [hit.image.id for hit in library.find(request).hits]
    assert ranked[0] == 4 and set(ranked) == {1, 3, 4}, ranked
