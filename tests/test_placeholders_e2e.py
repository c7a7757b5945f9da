"""In Chromium, at both sizes: while its thumbnail is still on its way, every card shows its
picture's placeholder (the mean colour made at index time, then its BlurHash), under the page's
Content-Security-Policy and with no script error; the card does not move when the thumbnail
arrives (issue 20, item 5)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_picture
from page_browser import chromium, clear_log, script_errors, serve, use_size
from PIL import Image
from test_web import index_folders
from test_web_e2e import page_wait

from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.web import images as image_routes

#: Pictures whose colours are far from the page's own grey, so a painted card tells.
COLOURS = ((200, 40, 40), (40, 160, 60), (40, 60, 200), (220, 160, 20))
#: The longest a held thumbnail waits: the test releases them well before.
HOLD_SECONDS = 60


@pytest.fixture(scope="module")
def held() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    held: threading.Event,
) -> Iterator[tuple[str, Library]]:
    pictures = tmp_path_factory.mktemp("placeholder-pictures")
    for seed, colour in enumerate(COLOURS):
        picture = make_picture(seed, (320, 240))
        picture.paste(colour, (0, 0, 320, 240))  # one colour: its mean is known
        picture.save(pictures / f"colour-{seed}.png")
    library = Library.open(tmp_path_factory.mktemp("placeholder-library"), embedder=tiny_embedder)
    index_folders(library, tiny_embedder, pictures)
    real_send_file = image_routes.send_file

    def slow_send_file(*args: object, **kwargs: object) -> object:
        held.wait(HOLD_SECONDS)  # thumbnails arrive only once the test has looked
        return real_send_file(*args, **kwargs)

    image_routes.send_file = slow_send_file  # type: ignore[assignment]
    try:
        with serve(library, pictures) as running:
            yield running.url, library
    finally:
        image_routes.send_file = real_send_file  # type: ignore[assignment]
        held.set()
        library.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_cards_show_their_placeholder_colour_until_the_thumbnail_arrives(
    browser: object, served: tuple[str, Library], held: threading.Event, size: str
) -> None:
    from selenium.webdriver.common.by import By

    url, _library = served
    driver = browser
    use_size(driver, size)
    clear_log(driver)
    held.clear()
    # As on a first visit: no thumbnail from the browser's cache (the other size's run).
    driver.execute_cdp_cmd("Network.enable", {})  # type: ignore[attr-defined]
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # type: ignore[attr-defined]
    driver.get(url + "/?q=a+colour")  # type: ignore[attr-defined]
    cards = page_wait(driver).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.card img.placeholder-painted")
    )
    assert len(cards) == len(COLOURS)
    for img in cards:
        card = img.find_element(By.XPATH, "./ancestor::li[1]")
        expected = card.get_attribute("data-placeholder-colour")
        red, green, blue = (int(expected[i : i + 2], 16) for i in (1, 3, 5))
        assert img.value_of_css_property("background-color") in (
            f"rgba({red}, {green}, {blue}, 1)",
            f"rgb({red}, {green}, {blue})",
        )
        assert img.value_of_css_property("background-image").startswith('url("data:image/png')
        assert not driver.execute_script("return arguments[0].naturalWidth", img)  # type: ignore[attr-defined]
        # What the reader sees: the picture's colour, not a grey tile.
        shown = Image.open(io.BytesIO(img.screenshot_as_png)).convert("RGB")
        # The middle fifth: the card's corners carry its buttons and caption.
        width, height = shown.size
        middle = shown.crop((width * 2 // 5, height * 2 // 5, width * 3 // 5, height * 3 // 5))
        seen = np.asarray(middle, dtype=float).reshape(-1, 3).mean(axis=0)
        mean = _mean_of(url, card.get_attribute("data-name"), served[1])
        assert np.abs(seen - mean).max() < 30, (seen, mean)
    boxes = [img.rect for img in cards]
    held.set()
    page_wait(driver).until(
        lambda d: all(d.execute_script("return arguments[0].naturalWidth > 0", i) for i in cards)
    )
    assert [img.rect for img in cards] == boxes  # nothing moved when the thumbnails came
    assert script_errors(driver) == []


def _mean_of(_url: str, name: str, library: Library) -> np.ndarray:
    for root in library.store.root_paths():
        path = Path(root) / name
        if path.is_file():
            with Image.open(path) as picture:
                return np.asarray(picture.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
    raise AssertionError(f"no picture named {name}")
