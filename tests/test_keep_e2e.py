"""Keeping what was found, in the page, in Chromium at 1440x900 and 390x844 (issue 21): a new
album from ticked results, adding from a picture's page and removing, opening an album from the
albums list, a smart album from the query and its filters, a share link opened logged out (only
what it names) and revoked, the place filter, a where/when query's reading shown as removable
chips, and stacks collapsed under one result that opens to show every copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import write_pictures
from exif_samples import write_photo
from page_browser import PASSWORDS, Served, card_ids, log_in, script_errors, serve
from test_page_e2e import browser, size  # noqa: F401  (fixtures)
from test_stacks import near_copy
from test_web import index_folders
from test_web_e2e import page_wait

from pixsift.search.accounts import LOCAL_PRINCIPAL, Accounts
from pixsift.search.albums import Albums
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder

LISBON, TOKYO = (38.7107, -9.1365), (35.6586, 139.7454)
BURST = 5
#: Every match, weak ones too: the seeded test model ranks at random.
ALL = "&weaker=true&k=50"


def write_trip(root: Path) -> None:
    """Ten plain pictures, three taken in Lisbon and three in Tokyo in 2019, and a burst of five
    near-identical frames a second apart in 2018."""
    write_pictures(root / "plain", 10)
    for number in range(6):
        where, month = (LISBON, 6) if number < 3 else (TOKYO, 7)
        write_photo(root / "trips" / f"trip-{number}.jpg", 200 + number,
                    taken=datetime(2019, month, 1 + number), position=where)  # fmt: skip
    start = datetime(2018, 5, 4, 10, 0, 0)
    for frame in range(BURST):
        write_photo(root / "shoot" / f"burst-{frame}.jpg", 0, camera=("Burst", "B1"),
                    taken=start + timedelta(seconds=frame), picture=near_copy(1, frame))  # fmt: skip


@pytest.fixture(scope="module")
def kept(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Served]:
    pictures = tmp_path_factory.mktemp("keep-pictures")
    for folder in ("trips", "shoot"):
        (pictures / folder).mkdir()
    write_trip(pictures)
    library = Library.open(tmp_path_factory.mktemp("keep-library"), embedder=tiny_embedder)
    index_folders(library, tiny_embedder, pictures)
    accounts = Accounts(library.store)
    for name, password in PASSWORDS.items():
        accounts.add_user(name, password, "admin" if name == "ada" else "viewer")
    with serve(library, pictures, PAGE_SIZE=4, LOGIN_RATE_LIMIT="1000 per minute",
               SHARE_RATE_LIMIT="1000 per minute") as running:  # fmt: skip
        yield running
    library.close()


def names_of(served: Served, ids: list[str]) -> set[str]:
    return {served.library.image(int(i)).name for i in ids}


def log_out(driver: object) -> None:
    """Forget every cookie (WebDriver's own delete clears the current page's site only)."""
    driver.get("about:blank")  # type: ignore[attr-defined]
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})  # type: ignore[attr-defined]


def album_ids(driver: object) -> list[str]:
    from selenium.webdriver.common.by import By

    cards = driver.find_elements(By.CSS_SELECTOR, "#album-images li.card")  # type: ignore[attr-defined]
    return [card.get_attribute("data-id") for card in cards]


def every_card(driver: object) -> list[str]:
    """The ids of every result, after "More results" has loaded each page."""
    from selenium.webdriver.common.by import By

    wait = page_wait(driver)
    more = driver.find_element(By.ID, "more")  # type: ignore[attr-defined]
    for _page in range(20):
        if not more.is_displayed():
            break
        shown = len(card_ids(driver))
        driver.execute_script("arguments[0].click()", more)  # type: ignore[attr-defined]
        wait.until(lambda d, shown=shown: len(card_ids(d)) > shown or not more.is_displayed())
    return card_ids(driver)


def query_of(driver: object) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)  # type: ignore[attr-defined]


def test_a_new_album_from_ticked_results_add_remove_and_open_it(
    browser: object,  # noqa: F811
    kept: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, page_wait(browser)
    log_in(driver, kept.url, "vic")
    driver.get(kept.url + "/?q=a+photo" + ALL)  # type: ignore[attr-defined]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results li.card input.pick")) >= 3)
    chosen = card_ids(driver)[:2]
    for box in driver.find_elements(By.CSS_SELECTOR, "#results li.card input.pick")[:2]:  # type: ignore[attr-defined]
        box.click()
    Select(driver.find_element(By.ID, "album-choice")).select_by_value("")  # type: ignore[attr-defined]
    name = f"Picked on a {size}"
    driver.find_element(By.ID, "new-album").send_keys(name)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "add-selected").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "album-images"))
    assert driver.find_element(By.ID, "album-name").text == name  # type: ignore[attr-defined]
    assert album_ids(driver) == chosen
    album_url = driver.current_url  # type: ignore[attr-defined]

    # One more from a picture's page; then one removed (its file stays in the library).
    third = card_ids_for(driver, kept, exclude=chosen)
    driver.get(f"{kept.url}/images/{third}")  # type: ignore[attr-defined]
    add = driver.find_element(By.ID, "viewer-add-to-album")  # type: ignore[attr-defined]
    Select(add.find_element(By.NAME, "album_id")).select_by_visible_text(name)
    add.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "album-images"))
    assert album_ids(driver) == [*chosen, third]
    driver.find_element(
        By.CSS_SELECTOR, f"#album-images li.card[data-id='{chosen[0]}'] form.remove button"
    ).click()  # type: ignore[attr-defined]
    wait.until(lambda d: album_ids(d) == [chosen[1], third])
    assert "2 pictures" in driver.find_element(By.ID, "album-count").text  # type: ignore[attr-defined]
    assert kept.library.image(int(chosen[0])).name  # still in the library

    # Opening it again: from the search page's "Albums" to the list, then the album.
    driver.get(kept.url + "/?q=a+photo")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "albums-link").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "album-list"))
    driver.find_element(By.LINK_TEXT, name).click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "album-images"))
    assert driver.current_url == album_url and album_ids(driver) == [chosen[1], third]  # type: ignore[attr-defined]
    assert script_errors(driver) == []


def card_ids_for(driver: object, served: Served, exclude: list[str]) -> str:
    """A picture of the library that is not in ``exclude``."""
    records = served.library.images(range(1, 100))
    return next(str(i) for i in sorted(records) if str(i) not in exclude)


def test_a_smart_album_keeps_the_query_and_its_filters(
    browser: object,  # noqa: F811
    kept: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, kept.url, "ada")
    driver.get(kept.url + "/?q=a+street&folder=trips&place=Tokyo" + ALL)  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    found = card_ids(driver)
    assert names_of(kept, found) == {"trip-3.jpg", "trip-4.jpg", "trip-5.jpg"}
    form = driver.find_element(By.ID, "save-smart")  # type: ignore[attr-defined]
    field = form.find_element(By.NAME, "name")
    field.clear()
    field.send_keys(f"Tokyo streets {size}")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "album-images"))
    assert "smart album" in driver.find_element(By.ID, "album-count").text  # type: ignore[attr-defined]
    assert sorted(album_ids(driver)) == sorted(found)
    # Saved: the whole request, filters included, not the ids of the day.
    saved = [a for a in Albums(kept.library.store, LOCAL_PRINCIPAL).list()
             if a.name == f"Tokyo streets {size}"]  # fmt: skip
    assert len(saved) == 1 and saved[0].owner == "user:ada" and saved[0].search is not None
    assert saved[0].search.terms[0].text == "a street"
    assert saved[0].search.filters.folder == "trips" and saved[0].search.filters.place == "Tokyo"
    driver.get(kept.url + "/albums")  # type: ignore[attr-defined]
    smart = driver.find_element(By.ID, "smart-list").text  # type: ignore[attr-defined]
    assert f"Tokyo streets {size}" in smart
    assert script_errors(driver) == []


def test_a_share_link_shows_only_the_album_logged_out_until_revoked(
    browser: object,  # noqa: F811
    kept: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, kept.url, "vic")
    driver.get(kept.url + "/albums")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "new-album-name").send_keys(f"To share {size}")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "create-album").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "album"))
    album_id = int(driver.find_element(By.ID, "album").get_attribute("data-album-id"))  # type: ignore[attr-defined]
    shared = sorted(kept.library.images(range(1, 100)))[:2]
    for image_id in shared:  # added through the page, as a person would
        driver.get(f"{kept.url}/images/{image_id}")  # type: ignore[attr-defined]
        add = driver.find_element(By.ID, "viewer-add-to-album")  # type: ignore[attr-defined]
        add.find_element(By.CSS_SELECTOR, f"option[value='{album_id}']").click()
        add.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "album-images"))
    driver.find_element(By.ID, "share").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#new-link input"))
    link = driver.find_element(By.CSS_SELECTOR, "#new-link input").get_attribute("value")  # type: ignore[attr-defined]
    assert "active" in driver.find_element(By.ID, "links").text  # type: ignore[attr-defined]

    # Logged out: the link shows the album's pictures, and nothing else of the library.
    log_out(driver)
    driver.get(link)  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "shared-images"))
    visible = driver.find_elements(By.CSS_SELECTOR, "#shared-images li.result")  # type: ignore[attr-defined]
    assert [int(item.get_attribute("data-id")) for item in visible] == shared
    every_loaded = ("return [...document.querySelectorAll('#shared-images img')]"
                    ".every(i => i.complete && i.naturalWidth > 0)")  # fmt: skip
    wait.until(lambda d: d.execute_script(every_loaded))
    source = driver.page_source  # type: ignore[attr-defined]
    assert str(kept.pictures) not in source and "Original" not in source
    driver.get(kept.url + "/?q=a+photo")  # type: ignore[attr-defined]
    assert "/login" in driver.current_url and not card_ids(driver)  # type: ignore[attr-defined]

    # Revoked (by its owner, on the album's page): the link opens nothing any more.
    log_in(driver, kept.url, "vic")
    driver.get(f"{kept.url}/albums/{album_id}")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "#links button[type=submit]").click()  # type: ignore[attr-defined]
    wait.until(lambda d: "revoked" in d.find_element(By.ID, "links").text)
    log_out(driver)
    driver.get(link)  # type: ignore[attr-defined]
    assert not driver.find_elements(By.ID, "shared-images")  # type: ignore[attr-defined]
    assert "revoked" in driver.find_element(By.TAG_NAME, "body").text.lower()  # type: ignore[attr-defined]
    assert script_errors(driver, allowed=r"/s/\S+ - Failed to load resource") == []


def test_the_place_filter_offers_the_library_s_places(
    browser: object,  # noqa: F811
    kept: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, page_wait(browser)
    # A place says where, like GPS: viewers (who by default see no GPS) get no place picker.
    log_in(driver, kept.url, "vic")
    driver.get(kept.url + "/?q=a+photo" + ALL)  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    assert not driver.find_elements(By.ID, "filter-place")  # type: ignore[attr-defined]
    log_in(driver, kept.url, "ada")
    driver.get(kept.url + "/?q=a+photo" + ALL)  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    driver.find_element(By.ID, "filters-toggle").click()  # type: ignore[attr-defined]
    picker = Select(driver.find_element(By.ID, "filter-place"))  # type: ignore[attr-defined]
    wait.until(lambda d: picker._el.is_displayed())
    offered = [option.text for option in picker.options]
    assert "Lisbon (3)" in offered and "Japan (3)" in offered, offered
    picker.select_by_value("Japan")
    driver.find_element(By.ID, "apply-filters").click()  # type: ignore[attr-defined]
    wait.until(lambda d: query_of(d).get("place") == ["Japan"] and card_ids(d))
    assert names_of(kept, card_ids(driver)) == {"trip-3.jpg", "trip-4.jpg", "trip-5.jpg"}
    chip = driver.find_element(By.CSS_SELECTOR, "#filter-chips [data-filter=place] span")  # type: ignore[attr-defined]
    assert chip.text == "in Japan"
    assert script_errors(driver) == []


def test_a_where_when_query_shows_its_reading_and_undoes_it(
    browser: object,  # noqa: F811
    kept: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, kept.url, "ada")
    driver.get(kept.url + "/?q=a+street+in+Lisbon+2019" + ALL)  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "interpretation"))
    reading = driver.find_element(By.ID, "interpretation")  # type: ignore[attr-defined]
    kinds = {chip.get_attribute("data-kind"): chip.text for chip in
             reading.find_elements(By.CSS_SELECTOR, ".chip.interpreted")}  # fmt: skip
    assert set(kinds) == {"place", "date"} and "Lisbon" in kinds["place"], kinds
    assert names_of(kept, card_ids(driver)) == {"trip-0.jpg", "trip-1.jpg", "trip-2.jpg"}
    # Undo the place: the words are searched as written, the year stays a filter.
    reading.find_element(By.CSS_SELECTOR, ".chip[data-kind=place] a.remove").click()
    wait.until(lambda d: query_of(d).get("interpret") == ["false"] and card_ids(d))
    assert not driver.find_elements(By.ID, "interpretation")  # type: ignore[attr-defined]
    found = names_of(kept, every_card(driver))
    assert {f"trip-{n}.jpg" for n in range(6)} <= found  # Tokyo's 2019 pictures too
    assert not any(name.startswith("burst") for name in found)  # 2018: still filtered out
    assert script_errors(driver) == []


def test_stacks_are_collapsed_and_open_to_show_every_copy(
    browser: object,  # noqa: F811
    kept: Served,
    size: str,  # noqa: F811
) -> None:
    log_in(browser, kept.url, "vic")
    # The burst as the page renders it, and as "More results" adds it (the oldest of seven
    # pictures: on page 2, by app.js).
    open_the_stack(browser, kept, "/?q=a+photo&weaker=true&folder=shoot")
    open_the_stack(
        browser, kept, "/?q=a+photo&weaker=true&after=2018-01-01&before=2019-12-31&order=date"
    )
    assert script_errors(browser) == []


def open_the_stack(driver: object, kept: Served, url: str) -> None:
    from selenium.webdriver.common.by import By

    wait = page_wait(driver)
    driver.get(kept.url + url)  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results details.stack"))
    stacks = driver.find_elements(By.CSS_SELECTOR, "#results details.stack")  # type: ignore[attr-defined]
    assert len(stacks) == 1, url
    stack = stacks[0]
    card = stack.find_element(By.XPATH, "./ancestor::li[contains(@class,'card')]")
    found = names_of(kept, card_ids(driver))
    assert len([name for name in found if name.startswith("burst")]) == 1, url  # collapsed
    summary = stack.find_element(By.TAG_NAME, "summary")
    assert summary.text == f"{BURST} copies" and stack.get_attribute("open") is None
    copies = stack.find_elements(By.CSS_SELECTOR, ".stack-copies li")
    assert not any(copy.is_displayed() for copy in copies)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)  # type: ignore[attr-defined]
    summary.click()
    wait.until(lambda d: all(copy.is_displayed() for copy in copies))
    copy_ids = [copy.get_attribute("data-id") for copy in copies]
    assert copy_ids[0] == card.get_attribute("data-id")  # the best copy is the one shown
    assert names_of(kept, copy_ids) == {f"burst-{n}.jpg" for n in range(BURST)}
    loaded = "return [...arguments[0].querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)"
    wait.until(lambda d: d.execute_script(loaded, stack))
