"""End to end in a real headless Chromium: search from the page, see results, load more, open
"more like this", search by an example file, and go back. Skipped only when Chromium is missing
outside CI (``CI=true`` makes a missing browser a failure)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest
from conftest import write_pictures
from test_web import index_folders
from werkzeug.serving import make_server

from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.web import create_app

PAGE_SIZE = 4
PICTURE_COUNT = 10
WAIT_SECONDS = 20


def page_wait(driver: object) -> object:
    """A wait whose condition may read an element the page has just replaced (a form submitted,
    a page navigated): a stale element means "not yet", never a failure."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = "chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("e2e-pictures")
    write_pictures(folder, PICTURE_COUNT)
    return folder


@pytest.fixture(scope="module")
def server_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder, pictures: Path
) -> Iterator[str]:
    library = Library.open(tmp_path_factory.mktemp("e2e-library"), embedder=tiny_embedder)
    index_folders(library, tiny_embedder, pictures)
    app = create_app({"LIBRARY": library, "PAGE_SIZE": PAGE_SIZE})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    library.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium, driver_path = browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pixsift-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def card_ids(driver: object) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        card.get_attribute("data-id")
        for card in driver.find_elements(By.CSS_SELECTOR, "#results li.card")
    ]  # type: ignore[attr-defined]


def test_search_more_results_more_like_this_and_search_by_file(
    browser: object, server_url: str, pictures: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    # The page replaces its results while a condition reads them: retry rather than fail.
    wait = page_wait(driver)
    driver.get(server_url + "/")  # type: ignore[attr-defined]
    assert f"Search {PICTURE_COUNT} pictures" in driver.page_source  # type: ignore[attr-defined]

    # Search from the box: the query goes into the URL and the results are server-rendered.
    box = driver.find_element(By.ID, "q")  # type: ignore[attr-defined]
    box.send_keys("a red square", Keys.ENTER)
    wait.until(lambda d: "q=a+red+square" in d.current_url and card_ids(d))
    images = driver.find_elements(By.CSS_SELECTOR, "#results img")  # type: ignore[attr-defined]
    assert all(image.get_attribute("loading") == "lazy" for image in images)

    # More results load on scroll (or with the button) until every picture is shown once, in
    # the API's rank order.
    more = driver.find_element(By.ID, "more")  # type: ignore[attr-defined]
    if more.is_displayed():
        driver.execute_script("arguments[0].scrollIntoView()", more)  # type: ignore[attr-defined]
    wait.until(lambda d: len(card_ids(d)) == PICTURE_COUNT)
    with urlopen(f"{server_url}/api/search?q=a+red+square&k={PICTURE_COUNT}") as response:
        ranked = [str(result["id"]) for result in json.load(response)["results"]]
    assert card_ids(driver) == ranked
    wait.until(lambda d: not d.find_element(By.ID, "more").is_displayed())

    # Hover a card: its name and score show; click "More like this" on the third result.
    card = driver.find_elements(By.CSS_SELECTOR, "#results li.card")[2]  # type: ignore[attr-defined]
    chosen = card.get_attribute("data-id")
    similar = card.find_element(By.CSS_SELECTOR, "a.similar")
    ActionChains(driver).move_to_element(card).pause(0.3).click(similar).perform()
    wait.until(lambda d: f"image_id={chosen}" in d.current_url and card_ids(d))
    assert card_ids(driver)[0] == chosen  # an image is most like itself
    assert "Pictures like" in driver.find_element(By.TAG_NAME, "h1").text  # type: ignore[attr-defined]

    # Back button: the text search again, from its URL.
    driver.back()  # type: ignore[attr-defined]
    wait.until(lambda d: "q=a+red+square" in d.current_url and card_ids(d))
    assert driver.find_element(By.ID, "q").get_attribute("value") == "a red square"  # type: ignore[attr-defined]

    # Search by an example file chosen with the file input (the drop zone uses the same call).
    # With the search box empty, so the example alone is the query (text + image combine).
    driver.find_element(By.ID, "q").clear()  # type: ignore[attr-defined]
    example = pictures / "picture-0002.png"
    driver.find_element(By.ID, "image-file").send_keys(str(example))  # type: ignore[attr-defined]
    wait.until(
        lambda d: "picture-0002.png" in d.find_element(By.CSS_SELECTOR, ".results-head h1").text
    )
    wait.until(lambda d: card_ids(d))
    first = driver.find_element(By.CSS_SELECTOR, "#results li.card .name")  # type: ignore[attr-defined]
    assert first.get_attribute("textContent") == "picture-0002.png"

    # Nothing went wrong in the page (a CSP violation or a script error would be logged here).
    errors = [
        entry
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if entry["level"] == "SEVERE"
    ]
    assert errors == []


def overlay_loaded(holder: object) -> bool:
    """Whether ``holder`` shows its "why?" overlay, with a decoded picture."""
    from selenium.webdriver.common.by import By

    overlays = holder.find_elements(By.CSS_SELECTOR, "img.why-overlay")  # type: ignore[attr-defined]
    return (
        bool(overlays)
        and overlays[0].is_displayed()
        and int(overlays[0].get_property("naturalWidth") or 0) > 0
    )


def test_why_overlay_on_click_and_on_the_image_page(browser: object, server_url: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = browser
    wait = page_wait(driver)
    driver.get(server_url + "/?q=a+red+square")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))

    # Clicking a result's "why?" lays the explanation over its thumbnail; clicking again hides it.
    card = driver.find_elements(By.CSS_SELECTOR, "#results li.card")[0]  # type: ignore[attr-defined]
    why = card.find_element(By.CSS_SELECTOR, "button.why")
    ActionChains(driver).move_to_element(card).pause(0.3).click(why).perform()
    wait.until(lambda d: overlay_loaded(card))
    ActionChains(driver).move_to_element(card).pause(0.3).click(why).perform()
    wait.until(lambda d: not overlay_loaded(card))

    # The result's page keeps the query; "why?" shows the overlay over the full picture.
    # (A click opens the viewer on this URL; loading the URL opens the page.)
    driver.get(card.find_element(By.CSS_SELECTOR, "a.open").get_attribute("href"))  # type: ignore[attr-defined]
    wait.until(lambda d: "/images/" in d.current_url and "q=a+red+square" in d.current_url)
    query = driver.find_element(By.CSS_SELECTOR, "#why-form input[name=q]")  # type: ignore[attr-defined]
    assert query.get_attribute("value") == "a red square"
    driver.find_element(By.ID, "why").click()  # type: ignore[attr-defined]
    explained = driver.find_element(By.ID, "explained")  # type: ignore[attr-defined]
    wait.until(lambda d: overlay_loaded(explained))
    overlay = explained.find_element(By.CSS_SELECTOR, "img.why-overlay")
    picture = explained.find_element(By.CSS_SELECTOR, "a.full img")
    assert overlay.rect == picture.rect  # laid exactly over the picture

    # A refused explanation says why, in the page.
    query.clear()
    driver.find_element(By.ID, "why").click()  # type: ignore[attr-defined]
    wait.until(lambda d: "empty" in d.find_element(By.ID, "why-status").text)
    errors = [
        entry
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if entry["level"] == "SEVERE" and "/explain?" not in entry["message"]
    ]
    assert errors == []


@pytest.fixture(scope="module")
def video_server_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[str]:
    from video_samples import write_video

    folder = tmp_path_factory.mktemp("e2e-videos")
    write_video(folder / "scenes.webm", codec="libvpx-vp9")  # cuts at 6 s and 12 s
    library = Library.open(tmp_path_factory.mktemp("e2e-video-library"), embedder=tiny_embedder)
    index_folders(library, tiny_embedder, folder)
    app = create_app({"LIBRARY": library, "PAGE_SIZE": PAGE_SIZE})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    library.close()


def test_a_moment_card_opens_the_video_playing_from_its_time(
    browser: object, video_server_url: str
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    wait = page_wait(driver)
    with urlopen(f"{video_server_url}/api/search?q=scenes&k=4") as response:
        (hit,) = json.load(response)["results"]
    moment = next(m for m in hit["moments"] if abs(m["offset_s"] - 12) < 0.2)
    driver.get(f"{video_server_url}/?image_id={moment['id']}")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d) == [str(moment["id"])])
    name = driver.find_element(By.CSS_SELECTOR, "#results li.card .name")  # type: ignore[attr-defined]
    assert name.get_attribute("textContent") == "scenes.webm @0:12"
    driver.find_element(By.CSS_SELECTOR, "#results li.card a.open").click()  # type: ignore[attr-defined]
    # The browser loads the video (Range requests) and starts it at the moment (#t=).
    wait.until(lambda d: d.execute_script("return document.querySelector('video').readyState") >= 1)
    current = driver.execute_script("return document.querySelector('video').currentTime")  # type: ignore[attr-defined]
    assert current == pytest.approx(moment["offset_s"], abs=0.2)


def test_tags_on_the_detail_page_and_on_results(browser: object, server_url: str) -> None:
    """Add tags with the picture page's form, remove one with its remove button, and see the tags on the
    results of a search filtered by one of them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    wait = page_wait(driver)
    with urlopen(f"{server_url}/api/search?q=anything&k=1&mode=semantic") as response:
        image_id = json.load(response)["results"][0]["id"]
    driver.get(f"{server_url}/images/{image_id}")  # type: ignore[attr-defined]
    box = driver.find_element(By.CSS_SELECTOR, ".add-tag input[name=tags]")  # type: ignore[attr-defined]
    box.send_keys("Seaside, picnic basket", Keys.ENTER)

    def shown(d: object) -> list[str]:
        return [a.text for a in d.find_elements(By.CSS_SELECTOR, "#tags form.tag a")]  # type: ignore[attr-defined]

    wait.until(lambda d: {"seaside", "picnic basket"} <= set(shown(d)))
    remove = driver.find_element(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, "#tags form.tag button[aria-label='Remove seaside']"
    )
    remove.click()
    wait.until(lambda d: "picnic basket" in shown(d) and "seaside" not in shown(d))
    # The tag links to a search filtered by it; the result card shows its tags.
    driver.find_element(By.LINK_TEXT, "picnic basket").click()  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d) == [str(image_id)])
    tags = driver.find_element(By.CSS_SELECTOR, "#results li.card .tags")  # type: ignore[attr-defined]
    assert "picnic basket" in tags.get_attribute("textContent")
