"""A sigmoid-trained model's probability: shown for a plain text query, and, where a match
probability is asked for (request, CLI, API, PIXSIFT_MATCH_PROBABILITY), where the list stops."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from conftest import DatabaseFactory
from test_evaluation import CAPTIONS, plant
from test_relevance import cli_library_args

from pixsift.cli.main import main
from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.query.relevance import Relevance, checked_match_probability
from pixsift.search.query.request import QueryTerm, SearchRequest

SCALE, BIAS = 10.0, -5.0


class SigmoidTiny:
    """The tiny test model as if sigmoid-trained: the same towers, plus a (scale, bias)."""

    def __init__(self, inner: OpenClipEmbedder) -> None:
        self._inner = inner
        self.sigmoid_scale = (SCALE, BIAS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def expected_probability(similarity: float) -> float:
    return 1.0 / (1.0 + math.exp(-(SCALE * similarity + BIAS)))


@pytest.fixture
def sigmoid_library(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder, new_database_url: DatabaseFactory
) -> Iterator[Library]:
    embedder = SigmoidTiny(tiny_embedder)
    opened = Library.open(tmp_path / "lib", database_url=new_database_url(), embedder=embedder)
    plant(opened, embedder)  # type: ignore[arg-type]
    yield opened
    opened.close()


def _text(text: str = CAPTIONS[0], **options: Any) -> SearchRequest:
    return SearchRequest((QueryTerm(text=text),), mode="semantic", **{"k": 250, **options})


def test_probability_and_its_bands() -> None:
    sigmoid = (SCALE, BIAS)
    relevance = Relevance(mean=0.0, std=0.1, calibrated=True, sigmoid=sigmoid)
    assert relevance.probability(0.7) == pytest.approx(expected_probability(0.7), abs=1e-12)
    # No overflow at either end, and no probability without a similarity.
    assert relevance.probability(1e6) == 1.0 and relevance.probability(-1e6) == 0.0
    assert relevance.probability(None) is None
    # Without a match probability the bands are the calibration's (z = similarity / 0.1).
    assert relevance.band(0.31) == "possible" and relevance.band(0.36) == "strong"
    assert relevance.band(0.2) == "weak"
    # With one, a picture the model is sure of is a match even where it does not stand out
    # (z = similarity here): possible from 0.8, strong from halfway to certainty (0.9).
    wide = Relevance(mean=0.0, std=1.0, calibrated=True, sigmoid=sigmoid, match_probability=0.8)
    at = lambda probability: (math.log(probability / (1 - probability)) - BIAS) / SCALE  # noqa: E731
    assert wide.band(at(0.8) + 1e-6) == "possible" and wide.band(at(0.8) - 1e-6) == "weak"
    assert wide.band(at(0.9) + 1e-6) == "strong"
    # ... and what stands out stays a match whatever its probability (P 0.18 here).
    narrow = Relevance(mean=0.0, std=0.1, calibrated=True, sigmoid=sigmoid, match_probability=0.8)
    assert narrow.probability(0.36) < 0.2 and narrow.band(0.36) == "strong"
    # A library too small to calibrate: the probability alone bands, nothing is weak.
    small = Relevance(mean=0.0, std=1.0, calibrated=False, sigmoid=sigmoid, match_probability=0.8)
    assert small.band(at(0.9) + 1e-6) == "strong" and small.band(0.0) is None


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "nan", "high", float("inf")])
def test_a_match_probability_is_between_0_and_1(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        checked_match_probability(bad)  # type: ignore[arg-type]
    assert checked_match_probability("off") is None
    assert checked_match_probability("0.25") == 0.25


def test_the_list_also_keeps_what_the_model_is_sure_of(
    sigmoid_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_MATCH_PROBABILITY", "off")
    everything = sigmoid_library.find(_text(weaker=True)).hits
    for hit in everything:
        assert hit.similarity is not None and hit.probability is not None
        assert hit.probability == pytest.approx(expected_probability(hit.similarity), abs=1e-6)
    assert everything[0].image.relative_path == "pic-0.jpg" and everything[0].probability > 0.99
    calibrated = {hit.id for hit in sigmoid_library.find(_text()).hits}
    assert calibrated and len(calibrated) < len(everything)
    # A threshold just under the most probable picture the calibration leaves out.
    outside = max(hit.probability for hit in everything if hit.id not in calibrated)
    threshold = outside * 0.999
    kept = sigmoid_library.find(_text(match_probability=threshold)).hits
    expected = [h.id for h in everything if h.id in calibrated or h.probability >= threshold]
    assert [hit.id for hit in kept] == expected and len(expected) > len(calibrated)
    added = [hit for hit in kept if hit.id not in calibrated]
    assert added and {hit.band for hit in added} <= {"possible", "strong"}
    # Weaker matches still show everything, the rest banded weak.
    weaker = sigmoid_library.find(_text(match_probability=threshold, weaker=True)).hits
    assert len(weaker) == len(everything)
    assert {hit.band for hit in weaker if hit.id not in set(expected)} == {"weak"}


def test_the_setting_and_the_request(
    sigmoid_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_MATCH_PROBABILITY", "off")
    calibrated = len(sigmoid_library.find(_text()).hits)
    monkeypatch.setenv("PIXSIFT_MATCH_PROBABILITY", "0.001")
    assert len(sigmoid_library.find(_text()).hits) > calibrated
    # The request's own threshold wins over the setting.
    assert len(sigmoid_library.find(_text(match_probability=0.999999)).hits) == calibrated
    monkeypatch.setenv("PIXSIFT_MATCH_PROBABILITY", "likely")
    with pytest.raises(InvalidInputError, match="PIXSIFT_MATCH_PROBABILITY"):
        sigmoid_library.find(_text())


def test_only_one_text_has_a_probability(sigmoid_library: Library) -> None:
    first = sigmoid_library.find(_text(weaker=True)).hits[0]
    by_image = SearchRequest((QueryTerm(image_id=first.id),), mode="semantic", k=5)
    two_terms = SearchRequest(
        (QueryTerm(text=CAPTIONS[0]), QueryTerm(text="blue", weight=-1.0)), mode="semantic", k=5
    )
    for request in (by_image, two_terms):
        hits = sigmoid_library.find(request.model_copy(update={"match_probability": 0.5})).hits
        # Calibrated as before: no probability, and the threshold does not apply.
        assert hits and all(hit.probability is None for hit in hits)


def test_a_softmax_model_refuses_a_match_probability(
    library: Library, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(library, tiny_embedder)
    hits = library.find(_text()).hits
    assert hits and all(hit.probability is None for hit in hits)
    with pytest.raises(InvalidInputError, match="sigmoid-trained"):
        library.find(_text(match_probability=0.5))
    # The setting is for sigmoid models: it changes nothing here.
    monkeypatch.setenv("PIXSIFT_MATCH_PROBABILITY", "0.001")
    assert [hit.id for hit in library.find(_text()).hits] == [hit.id for hit in hits]


def test_api_csv_and_page(sigmoid_library: Library) -> None:
    from pixsift.web import create_app

    app = create_app({"TESTING": True, "LIBRARY": sigmoid_library, "PAGE_SIZE": 50})
    client = app.test_client()
    query = f"q={quote(CAPTIONS[0])}&mode=semantic&match_probability=0.99"
    body = client.get(f"/api/search?{query}").get_json()
    expected = sigmoid_library.find(_text(match_probability=0.99, k=50)).hits
    assert [hit["id"] for hit in body["results"]] == [hit.id for hit in expected]
    assert body["results"][0]["name"] == "pic-0.jpg" and body["results"][0]["probability"] > 0.99
    assert body["query"]["match_probability"] == 0.99
    refused = client.get(f"/api/search?{query.replace('0.99', '1.5')}")
    assert refused.status_code == 400
    assert "match_probability" in refused.get_json()["error"]["message"]
    header, first, *_ = client.get(f"/api/search.csv?{query}").get_data(as_text=True).splitlines()
    assert header.split(",")[-1] == "probability" and float(first.split(",")[-1]) > 0.99
    page = client.get(f"/?{query}").get_data(as_text=True)
    assert "probability of a match: 99 %" in page


def test_cli_takes_a_match_probability(
    library: Library, tiny_embedder: OpenClipEmbedder, tiny_spec: ModelSpec
) -> None:
    plant(library, tiny_embedder)
    args = cli_library_args(library, tiny_spec)
    runner = CliRunner()
    # The tiny model is softmax-trained: refused in one line, not ignored.
    result = runner.invoke(main, ["search", CAPTIONS[0], "--match-probability", "0.5", *args])
    assert result.exit_code != 0 and "sigmoid-trained" in result.output
    result = runner.invoke(main, ["search", CAPTIONS[0], "--match-probability", "1", *args])
    assert result.exit_code == 2 and "--match-probability" in result.output
