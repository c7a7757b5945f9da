"""The relevance cutoff: a score that means something, bands, and a list that stops where the
matches end unless weaker matches are asked for."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from test_evaluation import CAPTIONS, plant

from pixsift.cli.main import main
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.query.relevance import RelevanceOptions, calibrate
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.records import l2_normalise


def test_calibration_is_the_query_s_spread_over_the_library() -> None:
    rng = np.random.default_rng(5)
    sample = l2_normalise(rng.standard_normal((300, 64)).astype(np.float32))
    query = sample[:1].copy()
    relevance = calibrate(query, sample)
    scores = sample @ query[0]
    assert relevance.calibrated
    assert (
        relevance.mean == np.float32(scores.mean()).item()
        or abs(relevance.mean - float(scores.mean())) < 1e-6
    )
    assert abs(relevance.score(1.0) - (1.0 - scores.mean()) / scores.std()) < 1e-4
    assert relevance.band(1.0) == "strong"
    assert relevance.band(float(np.median(scores))) == "weak"
    assert relevance.band(None) == "words"
    # Too few pictures to tell what is unusual: no band, nothing cut.
    small = calibrate(query, sample[:50], RelevanceOptions(min_images=100))
    assert not small.calibrated and small.band(1.0) is None and small.is_match(-1.0)


def test_the_list_stops_where_matches_end(library: Library, tiny_embedder: OpenClipEmbedder):
    plant(library, tiny_embedder)
    term = (QueryTerm(text=CAPTIONS[0]),)
    default = library.find(SearchRequest(term, mode="semantic", k=50)).hits
    # The picture whose embedding is the caption's own is a strong match; none of the random
    # pictures stands out, so the list ends before them.
    assert default[0].image.relative_path == "pic-0.jpg" and default[0].band == "strong"
    assert default[0].relevance is not None and default[0].relevance > 4
    assert all(not hit.image.relative_path.startswith("z-") for hit in default)
    assert all(hit.band in ("strong", "possible") for hit in default)
    weaker = library.find(SearchRequest(term, mode="semantic", k=50, weaker=True)).hits
    assert len(weaker) == 50 and [h.id for h in weaker[: len(default)]] == [h.id for h in default]
    assert {hit.band for hit in weaker[len(default) :]} == {"weak"}
    # Hybrid mode shows the same meaningful score (not a fused rank score of 0.01).
    hybrid = library.find(SearchRequest(term, k=5)).hits
    assert hybrid[0].band == "strong" and hybrid[0].relevance == default[0].relevance


def test_words_matches_are_kept_and_banded_as_words(
    library: Library, tiny_embedder: OpenClipEmbedder
) -> None:
    plant(library, tiny_embedder)
    # "z" is in every random picture's file name (z-12.jpg): found by its words.
    keyword = library.find(SearchRequest((QueryTerm(text="z"),), mode="keyword", k=20)).hits
    assert len(keyword) == 20 and {hit.band for hit in keyword} == {"words"}
    # In hybrid mode too: a picture its words find stays, whatever its similarity ("12" is in
    # one name; "z", in most of the library, carries no weight there and is left out).
    hybrid = library.find(SearchRequest((QueryTerm(text="12"),), mode="hybrid", k=1000)).hits
    assert {hit.image.relative_path: hit.band for hit in hybrid}.get("z-12.jpg") == "words"
    assert "weak" not in {hit.band for hit in hybrid}


def cli_library_args(library: Library, spec: ModelSpec) -> list[str]:
    """The CLI options that open ``library`` with ``spec``'s model (its database too)."""
    url = library.store.engine.url.render_as_string(hide_password=False)
    args = ["--library", str(library.directory), "--model", spec.model_name,
            "--pretrained", spec.pretrained]  # fmt: skip
    return args if url.startswith("sqlite") else [*args, "--database-url", url]


def test_cli_shows_bands_and_says_when_nothing_matched(
    library: Library, tiny_embedder: OpenClipEmbedder, tiny_spec: ModelSpec
) -> None:
    plant(library, tiny_embedder)
    args = cli_library_args(library, tiny_spec)
    runner = CliRunner()
    result = runner.invoke(main, ["search", CAPTIONS[0], "--mode", "semantic", "-k", "50", *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[1].endswith("pic-0.jpg") and lines[0].endswith("strong")
    assert len(lines) < 50
    result = runner.invoke(
        main, ["search", CAPTIONS[0], "--mode", "semantic", "-k", "50", "--weaker", *args]
    )
    assert len(result.stdout.strip().splitlines()) == 50
    assert result.stdout.strip().splitlines()[-1].endswith("weak")


def test_hybrid_fuses_the_user_s_words_not_automatic_tags(
    library: Library, tiny_embedder: OpenClipEmbedder, backend: str
) -> None:
    from pixsift.search.storage.tags import add_manual_tags, replace_automatic_tags

    plant(library, tiny_embedder)
    ids = {record.relative_path: i for i, record in library.images(range(1, 300)).items()}
    guessed, named = ids["z-5.jpg"], ids["z-6.jpg"]
    with library.store.session() as session:
        replace_automatic_tags(session, {guessed: {"star": 0.3}}, [guessed])
        add_manual_tags(session, named, ["star"])
    term = (QueryTerm(text=CAPTIONS[0]),)
    hybrid = [hit.id for hit in library.find(SearchRequest(term, k=1000)).hits]
    semantic = [hit.id for hit in library.find(SearchRequest(term, mode="semantic", k=1000)).hits]
    # A wrong automatic tag is the model's own guess: it does not lift the picture in hybrid
    # mode, and the caption's picture keeps its semantic rank.
    assert guessed not in hybrid and named in hybrid
    assert hybrid.index(ids["pic-0.jpg"]) <= semantic.index(ids["pic-0.jpg"]) == 0
    # Keyword mode still searches every tag.
    keyword = [hit.id for hit in library.find(SearchRequest(term, mode="keyword", k=50)).hits]
    assert {guessed, named} <= set(keyword)


def test_api_and_page_show_bands_and_weaker_matches(
    library: Library, tiny_embedder: OpenClipEmbedder
) -> None:
    from urllib.parse import quote

    from pixsift.web import create_app

    plant(library, tiny_embedder)
    client = create_app({"TESTING": True, "LIBRARY": library, "PAGE_SIZE": 50}).test_client()
    query = f"/api/search?q={quote(CAPTIONS[0])}&mode=semantic"
    body = client.get(query).get_json()
    assert body["results"][0]["name"] == "pic-0.jpg" and body["results"][0]["band"] == "strong"
    assert body["results"][0]["relevance"] > 4 and len(body["results"]) < 50
    assert body["query"]["weaker"] is False
    weaker = client.get(query + "&weaker=true").get_json()
    assert len(weaker["results"]) == 50 and weaker["results"][-1]["band"] == "weak"
    page = client.get(f"/?q={quote(CAPTIONS[0])}&mode=semantic").get_data(as_text=True)
    assert "strong match" in page and "Show weaker matches" in page and "weaker=true" in page
