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
    return SearchRequest((QueryTerm(text=text),), mode="semantic", k=250, **options)


def test_probability_and_its_bands() -> None:
    relevance = Relevance(mean=0.0, std=0.1, calibrated=True, sigmoid=(SCALE, BIAS))
    assert relevance.probability(0.7) == pytest.approx(expected_probability(0.7), abs=1e-12)
    # No overflow at either end, and no probability without a similarity.
    assert relevance.probability(1e6) == 1.0 and relevance.probability(-1e6) == 0.0
    assert relevance.probability(None) is None
    # Without a match probability the bands stay calibrated (z = similarity / 0.1).
    assert relevance.band(0.31) == "possible" and relevance.band(0.36) == "strong"
    asked = Relevance(
        mean=0.0, std=0.1, calibrated=True, sigmoid=(SCALE, BIAS), match_probability=0.8
    )
    # possible from 0.8, strong from halfway to certainty (0.9), whatever the calibration says.
    logit = math.log(0.8 / 0.2)
    assert asked.band((logit - BIAS) / SCALE + 1e-6) == "possible"
    assert asked.band((logit - BIAS) / SCALE - 1e-6) == "weak"
    assert asked.band((math.log(0.9 / 0.1) - BIAS) / SCALE + 1e-6) == "strong"
    assert asked.band(0.36) == "weak"  # 3.6 deviations out, but P 0.18
    assert asked.cuts and not Relevance(mean=0, std=1, calibrated=False).cuts


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "nan", "high", float("inf")])
def test_a_match_probability_is_between_0_and_1(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        checked_match_probability(bad)  # type: ignore[arg-type]
    assert checked_match_probability("calibrated") is None
    assert checked_match_probability("0.25") == 0.25


def test_the_list_stops_at_the_probability_asked(sigmoid_library: Library) -> None:
    everything = sigmoid_library.find(_text(weaker=True)).hits
    for hit in everything:
        assert hit.similarity is not None and hit.probability is not None
        assert hit.probability == pytest.approx(expected_probability(hit.similarity), abs=1e-6)
    probabilities = sorted((hit.probability for hit in everything), reverse=True)
    assert probabilities[0] > 0.99  # the caption's own picture
    # A threshold between the 6th and 7th most probable: exactly six stay, best first.
    threshold = (probabilities[5] + probabilities[6]) / 2
    cut = sigmoid_library.find(_text(match_probability=threshold)).hits
    assert [hit.id for hit in cut] == [hit.id for hit in everything[:6]]
    assert all(hit.band in ("strong", "possible") for hit in cut)
    assert cut[0].band == "strong" and cut[0].image.relative_path == "pic-0.jpg"
    # The default (calibrated) list is another list: the probability does not cut it.
    calibrated = sigmoid_library.find(_text()).hits
    assert len(calibrated) != 6 and all(hit.probability is not None for hit in calibrated)
    # Weaker matches still show everything, banded by the probability.
    weaker = sigmoid_library.find(_text(match_probability=threshold, weaker=True)).hits
    assert len(weaker) == len(everything) and weaker[6].band == "weak"


def test_the_setting_and_the_request(
    sigmoid_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_MATCH_PROBABILITY", "0.999999")
    assert len(sigmoid_library.find(_text()).hits) <= 1
    # The request's own threshold wins over the setting.
    assert len(sigmoid_library.find(_text(match_probability=0.01)).hits) > 1
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


def test_a_softmax_model_refuses_a_match_probability(library: Library, tiny_embedder) -> None:
    plant(library, tiny_embedder)
    hits = library.find(_text()).hits
    assert hits and all(hit.probability is None for hit in hits)
    with pytest.raises(InvalidInputError, match="sigmoid-trained"):
        library.find(_text(match_probability=0.5))


def test_api_csv_and_page(sigmoid_library: Library) -> None:
    from pixsift.web import create_app

    app = create_app({"TESTING": True, "LIBRARY": sigmoid_library, "PAGE_SIZE": 50})
    client = app.test_client()
    query = f"q={quote(CAPTIONS[0])}&mode=semantic&match_probability=0.99"
    body = client.get(f"/api/search?{query}").get_json()
    assert [hit["name"] for hit in body["results"]] == ["pic-0.jpg"]
    assert body["results"][0]["probability"] > 0.99 and body["query"]["match_probability"] == 0.99
    refused = client.get(f"/api/search?{query.replace('0.99', '1.5')}")
    assert refused.status_code == 400
    assert "match_probability" in refused.get_json()["error"]["message"]
    header, *rows = client.get(f"/api/search.csv?{query}").get_data(as_text=True).splitlines()
    assert header.split(",")[-1] == "probability" and len(rows) == 1
    assert float(rows[0].split(",")[-1]) > 0.99
    page = client.get(f"/?{query}").get_data(as_text=True)
    assert "probability of a match: 99 %" in page and page.count('<li class="card" data-id=') == 1


def test_cli_takes_a_match_probability(
    library: Library, tiny_embedder: OpenClipEmbedder, tiny_spec: ModelSpec
) -> None:
    plant(library, tiny_embedder)
    url = library.store.engine.url.render_as_string(hide_password=False)
    args = ["--library", str(library.directory), "--model", tiny_spec.model_name,
            "--pretrained", tiny_spec.pretrained, "--database-url", url]  # fmt: skip
    runner = CliRunner()
    # The tiny model is softmax-trained: refused in one line, not ignored.
    result = runner.invoke(main, ["search", CAPTIONS[0], "--match-probability", "0.5", *args])
    assert result.exit_code != 0 and "sigmoid-trained" in result.output
    result = runner.invoke(main, ["search", CAPTIONS[0], "--match-probability", "1", *args])
    assert result.exit_code == 2 and "--match-probability" in result.output
