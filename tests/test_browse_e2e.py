"""Browsing and decisions on the page in Chromium at 1440x900 and 390x844 (issue 20, items 3
and 9): the home is the library's timeline (month and day headings, older pages loaded on
scroll, a month to jump to), folders with subfolders and breadcrumbs behind deep links, "hide
from results" and "show again", and "not duplicates"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from page_browser import PASSWORDS, Served, card_ids, log_in, script_errors, serve
from test_browse import NEWEST_FIRST, index, write_library
from test_page_e2e import browser, size  # noqa: F401  (fixtures)
from test_web_e2e import page_wait

from pixsift.search.accounts import LOCAL_PRINCIPAL, Accounts
from pixsift.search.decisions import Decisions, NotDuplicatesRequest
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder

PAGE_SIZE = 3


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Served]:
    pictures = tmp_path_factory.mktemp("browse-page") / "Photos"
    write_library(pictures)
    library = Library.open(tmp_path_factory.mktemp("browse-page-library"), embedder=tiny_embedder)
    index(library, tiny_embedder, pictures)
    accounts = Accounts(library.store)
    for name, password in PASSWORDS.items():
        accounts.add_user(name, password, "admin" if name == "ada" else "viewer")
    with serve(
        library, pictures, PAGE_SIZE=PAGE_SIZE, LOGIN_RATE_LIMIT="1000 per minute"
    ) as running:
        yield running
    library.close()


def ids(served: Served) -> dict[str, int]:
    records = served.library.images(range(1, 100))
    return {record.relative_path: image_id for image_id, record in records.items()}


def names(driver: object, served: Served) -> list[str]:
    by_id = {str(i): path for path, i in ids(served).items()}
    return [by_id[card] for card in card_ids(driver)]


def scroll_to_the_end(driver: object) -> None:
    from selenium.webdriver.common.by import By

    wait = page_wait(driver)

    def grown(count: int) -> object:
        return lambda d: (
            len(card_ids(d)) > count or not d.find_element(By.ID, "more").is_displayed()
        )

    for _ in range(20):
        more = driver.find_element(By.ID, "more")  # type: ignore[attr-defined]
        if not more.is_displayed():
            return
        count = len(card_ids(driver))
        driver.execute_script("arguments[0].scrollIntoView()", more)  # type: ignore[attr-defined]
        wait.until(grown(count))
    raise AssertionError("the timeline never ended")


def test_the_home_is_a_timeline_by_month_and_day(
    browser: object,  # noqa: F811
    served: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    # Older pages load as the end of the list nears (here at once: the page is short). The
    # cards are read once: a page appended between two reads would make them disagree.
    shown = names(driver, served)
    assert shown == NEWEST_FIRST[: len(shown)]
    scroll_to_the_end(driver)
    assert names(driver, served) == NEWEST_FIRST
    months = driver.find_elements(By.CSS_SELECTOR, "#results li.when.month h2")  # type: ignore[attr-defined]
    assert [m.text for m in months] == [
        "May 2024", "December 2023", "July 2023", "March 2022", "January 2021",
    ]  # fmt: skip
    days = [d.text for d in driver.find_elements(By.CSS_SELECTOR, "#results li.when.day h3")]  # type: ignore[attr-defined]
    assert days[:3] == ["Saturday 4 May 2024", "Sunday 24 December 2023", "Sunday 2 July 2023"]
    assert len(days) == len(set(days)) == 7
    # Each heading stands before its pictures: the first card after "Sunday 2 July 2023".
    after = driver.find_element(  # type: ignore[attr-defined]
        By.XPATH, "//li[h3='Sunday 2 July 2023']/following-sibling::li[contains(@class,'card')][1]"
    )
    assert after.get_attribute("data-id") == str(ids(served)["2023/summer/beach-2.jpg"])
    # A month to jump to, and the view switch.
    driver.get(served.url + "/?start=2023-07")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    shown = names(driver, served)
    assert shown == NEWEST_FIRST[3 : 3 + len(shown)]
    assert driver.find_element(By.ID, "jump-month").get_attribute("value") == "2023-07"  # type: ignore[attr-defined]
    current = driver.find_element(By.CSS_SELECTOR, ".browse-nav a[aria-current=page]")  # type: ignore[attr-defined]
    assert current.text == "Timeline"
    assert script_errors(driver) == []


def test_folders_open_with_breadcrumbs_and_deep_links(
    browser: object,  # noqa: F811
    served: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/")  # type: ignore[attr-defined]
    driver.find_element(By.LINK_TEXT, "Folders").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#folders .folder-name"))

    def folder_names(d: object) -> list[str]:
        return [f.text for f in d.find_elements(By.CSS_SELECTOR, "#folders .folder-name")]  # type: ignore[attr-defined]

    assert folder_names(driver) == ["Photos"]  # a viewer sees the root by its name only
    driver.find_element(By.LINK_TEXT, "Photos").click()  # type: ignore[attr-defined]
    wait.until(lambda d: folder_names(d) == ["2023", "2024"])
    scroll_to_the_end(driver)
    assert names(driver, served) == ["dup-a.png", "dup-b.jpg", "loose-1.png", "loose-2.png"]
    driver.find_element(By.LINK_TEXT, "2023").click()  # type: ignore[attr-defined]
    wait.until(lambda d: folder_names(d) == ["summer", "winter"])
    driver.find_element(By.LINK_TEXT, "summer").click()  # type: ignore[attr-defined]
    wait.until(lambda d: folder_names(d) == ["raw"])
    assert names(driver, served) == ["2023/summer/beach-1.jpg", "2023/summer/beach-2.jpg"]
    crumbs = driver.find_elements(By.CSS_SELECTOR, "#breadcrumbs li")  # type: ignore[attr-defined]
    assert [c.text for c in crumbs] == ["All folders", "Photos", "2023", "summer"]
    deep_link = driver.current_url  # type: ignore[attr-defined]
    assert deep_link.endswith("/2023/summer")
    crumbs[2].find_element(By.TAG_NAME, "a").click()
    wait.until(lambda d: folder_names(d) == ["summer", "winter"])
    driver.get(deep_link)  # type: ignore[attr-defined]
    wait.until(lambda d: folder_names(d) == ["raw"])
    assert script_errors(driver) == []


def test_an_admin_hides_a_picture_and_shows_it_again(
    browser: object,  # noqa: F811
    served: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    party = ids(served)["2024/party.jpg"]
    log_in(driver, served.url, "vic")
    driver.get(f"{served.url}/images/{party}")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.ID, "hide-button")  # type: ignore[attr-defined]  # viewers
    log_in(driver, served.url, "ada")
    try:
        driver.get(f"{served.url}/images/{party}")  # type: ignore[attr-defined]
        driver.find_element(By.ID, "hide-button").click()  # type: ignore[attr-defined]
        wait.until(lambda d: d.find_elements(By.ID, "hidden-note"))
        driver.get(served.url + "/")  # type: ignore[attr-defined]
        wait.until(lambda d: card_ids(d))
        assert str(party) not in card_ids(driver)
        assert names(driver, served)[0] == "loose-2.png"
        driver.find_element(By.LINK_TEXT, "Hidden").click()  # type: ignore[attr-defined]
        listed = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hidden-list li"))
        assert [item.get_attribute("data-id") for item in listed] == [str(party)]
        listed[0].find_element(By.CSS_SELECTOR, "button.unhide").click()
        wait.until(lambda d: d.find_elements(By.ID, "no-results"))
        driver.get(served.url + "/")  # type: ignore[attr-defined]
        wait.until(lambda d: card_ids(d))
        assert names(driver, served)[0] == "2024/party.jpg"
    finally:
        Decisions(served.library.store, LOCAL_PRINCIPAL).unhide(party)
    assert script_errors(driver) == []


def test_hiding_from_the_viewer_on_the_timeline_takes_its_empty_headings(
    browser: object,  # noqa: F811
    served: Served,
    size: str,  # noqa: F811
) -> None:
    """The only picture of a day and a month hidden from the viewer: its card and its headings
    leave the timeline at once; "Undo" brings all three back."""
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    snow = ids(served)["2023/winter/snow.jpg"]
    log_in(driver, served.url, "ada")
    driver.get(served.url + "/?start=2023-12")  # type: ignore[attr-defined]
    wait.until(lambda d: str(snow) in card_ids(d))

    def headings(d: object) -> list[str]:
        found = d.find_elements(By.CSS_SELECTOR, "#results li.when h2, #results li.when h3")  # type: ignore[attr-defined]
        return [h.text for h in found if h.is_displayed()]

    assert headings(driver)[:2] == ["December 2023", "Sunday 24 December 2023"]
    before = card_ids(driver)
    link = driver.find_element(By.CSS_SELECTOR, f"#results li.card[data-id='{snow}'] a.open")  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].click()", link)  # type: ignore[attr-defined]
    wait.until(lambda d: d.execute_script("return document.getElementById('viewer').open"))
    try:
        driver.find_element(By.ID, "viewer-hide").click()  # type: ignore[attr-defined]
        wait.until(lambda d: str(snow) not in card_ids(d))
        assert "December 2023" not in headings(driver)
        assert "Sunday 24 December 2023" not in headings(driver)
        driver.find_element(By.ID, "viewer-undo").click()  # type: ignore[attr-defined]
        wait.until(lambda d: card_ids(d) == before)
        assert headings(driver)[:2] == ["December 2023", "Sunday 24 December 2023"]
    finally:
        Decisions(served.library.store, LOCAL_PRINCIPAL).unhide(snow)
    assert script_errors(driver) == []


def test_an_admin_says_two_pictures_are_not_duplicates(
    browser: object,  # noqa: F811
    served: Served,
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, wait = browser, page_wait(browser)
    pair = sorted(ids(served)[name] for name in ("dup-a.png", "dup-b.jpg"))
    log_in(driver, served.url, "ada")
    group_of_copy = "//section[contains(@class,'duplicate-group')][.//li[contains(., 'dup-b.jpg')]]"
    try:
        driver.get(served.url + "/duplicates?threshold=0.9")  # type: ignore[attr-defined]
        group = driver.find_element(By.XPATH, group_of_copy)  # type: ignore[attr-defined]
        group.find_element(By.CSS_SELECTOR, "form.not-duplicates button").click()
        wait.until(lambda d: not d.find_elements(By.XPATH, group_of_copy))
        assert "threshold=0.9" in driver.current_url  # type: ignore[attr-defined]
        assert not driver.find_elements(By.XPATH, group_of_copy)  # type: ignore[attr-defined]
        # Kept apart: the decision is listed with "Undo", named for its pictures.
        kept = driver.find_elements(By.CSS_SELECTOR, "#kept-apart-list li.kept-apart-group")  # type: ignore[attr-defined]
        assert [item.get_attribute("data-ids") for item in kept] == [f"{pair[0]},{pair[1]}"]
        undo = kept[0].find_element(By.CSS_SELECTOR, "button.undo")
        assert "dup-a.png" in undo.get_attribute("aria-label")
        assert "dup-b.jpg" in undo.get_attribute("aria-label")
        # A viewer sees neither the decisions nor their undo.
        log_in(driver, served.url, "vic")
        driver.get(served.url + "/duplicates?threshold=0.9")  # type: ignore[attr-defined]
        assert not driver.find_elements(By.ID, "kept-apart")  # type: ignore[attr-defined]
        log_in(driver, served.url, "ada")
        driver.get(served.url + "/duplicates?threshold=0.9")  # type: ignore[attr-defined]
        undo = driver.find_element(By.CSS_SELECTOR, "#kept-apart-list button.undo")  # type: ignore[attr-defined]
        undo.send_keys(Keys.ENTER)  # by keyboard: reachable and a real button
        wait.until(lambda d: d.find_elements(By.XPATH, group_of_copy))
        assert "threshold=0.9" in driver.current_url  # type: ignore[attr-defined]
        assert driver.find_elements(By.ID, "kept-apart-empty")  # type: ignore[attr-defined]
    finally:
        from pixsift.search.decisions import NotDuplicatesRequest

        decisions = Decisions(served.library.store, LOCAL_PRINCIPAL)
        decisions.unmark_not_duplicates(NotDuplicatesRequest(image_ids=tuple(pair)))
    assert script_errors(driver) == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_browsing_pages_have_no_axe_violations(
    browser: object,  # noqa: F811
    served: Served,
    size: str,  # noqa: F811
    theme: str,
) -> None:
    from page_browser import use_size
    from selenium.webdriver.common.by import By
    from test_accessibility_e2e import violations

    driver = browser
    use_size(driver, size, theme)
    log_in(driver, served.url, "ada")
    party = ids(served)["2024/party.jpg"]
    pages = {
        "timeline": "/",
        "folders": "/folders",
        "a folder": "/folders/1/2023/summer",  # the only root: id 1 in a fresh library
        "hidden (empty)": "/hidden",
        "picture page": f"/images/{party}",
        "duplicates": "/duplicates?threshold=0.9",
    }
    found = {}
    for name, path in pages.items():
        driver.get(served.url + path)  # type: ignore[attr-defined]
        found[name] = violations(driver)
    decisions = Decisions(served.library.store, LOCAL_PRINCIPAL)
    decisions.hide(party)
    pair = NotDuplicatesRequest(image_ids=(ids(served)["dup-a.png"], ids(served)["dup-b.jpg"]))
    decisions.mark_not_duplicates(pair)
    try:
        driver.get(served.url + "/hidden")  # type: ignore[attr-defined]
        found["hidden"] = violations(driver)
        driver.get(f"{served.url}/images/{party}")  # type: ignore[attr-defined]
        found["hidden picture page"] = violations(driver)
        driver.get(served.url + "/duplicates?threshold=0.9")  # type: ignore[attr-defined]
        assert driver.find_elements(By.CSS_SELECTOR, "#kept-apart-list button.undo")  # type: ignore[attr-defined]
        found["duplicates, kept apart"] = violations(driver)
    finally:
        decisions.unhide(party)
        decisions.unmark_not_duplicates(pair)
    assert {page: v for page, v in found.items() if v} == {}
