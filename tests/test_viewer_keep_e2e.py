"""The full-screen viewer's tools for editors in Chromium at 1440x900 and 390x844 (issues 20 and
21): "Hide from results" takes the picture out of the grid at once (no reload), moves on, says
so in a status line and undoes; "Add to album" adds to a new album or to one of the list through
the albums API; viewers get "Add to album" only; axe-core finds nothing with the tools open, in both
themes."""

from __future__ import annotations

import pytest
from page_browser import Served, card_ids, log_in, script_errors, use_size
from test_page_e2e import browser, served, size  # noqa: F401  (fixtures)
from test_web_e2e import page_wait

from pixsift.search.accounts import LOCAL_PRINCIPAL
from pixsift.search.albums import Albums
from pixsift.search.decisions import Decisions
from pixsift.search.folders import folder_listing

GRID = "/?q=a+red+square&k=10"


def open_viewer(driver: object, library: Served, position: int) -> tuple[list[str], list[str]]:
    """The grid's ids and names, after opening the card at ``position`` in the viewer (the
    grid is marked, so that a reload would show)."""
    from selenium.webdriver.common.by import By

    wait = page_wait(driver)
    driver.get(library.url + GRID)  # type: ignore[attr-defined]
    wait.until(lambda d: len(card_ids(d)) >= 6)
    driver.execute_script("window.notReloaded = true")  # type: ignore[attr-defined]
    cards = driver.find_elements(By.CSS_SELECTOR, "#results li.card")  # type: ignore[attr-defined]
    names = [card.get_attribute("data-name") for card in cards]
    link = cards[position].find_element(By.CSS_SELECTOR, "a.open")
    driver.execute_script("arguments[0].click()", link)  # type: ignore[attr-defined]
    wait.until(lambda d: d.execute_script("return document.getElementById('viewer').open"))
    return card_ids(driver), names


def title(driver: object) -> str:
    return driver.execute_script("return document.getElementById('viewer-title').textContent")  # type: ignore[attr-defined]


def note(driver: object) -> str:
    return driver.execute_script(  # type: ignore[attr-defined]
        "const n = document.getElementById('viewer-note'); return n && !n.hidden ? n.textContent : ''"
    )


def test_an_editor_hides_the_shown_picture_and_undoes_it(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "ada")
    ids, names = open_viewer(driver, served, 1)
    hidden = int(ids[1])
    decisions = Decisions(served.library.store, LOCAL_PRINCIPAL)
    try:
        hide = driver.find_element(By.ID, "viewer-hide")  # type: ignore[attr-defined]
        assert hide.get_attribute("aria-label") == f"Hide “{names[1]}” from results"
        hide.send_keys(Keys.ENTER)  # by keyboard
        # Out of the grid at once (no reload), the next picture shown, and said.
        wait.until(lambda d: card_ids(d) == ids[:1] + ids[2:])
        wait.until(lambda d: "is hidden from results" in note(d))
        assert note(driver).startswith(f"“{names[1]}” is hidden from results")
        assert title(driver) == names[2] and f"/images/{ids[2]}" in driver.current_url  # type: ignore[attr-defined]
        assert decisions.is_hidden(hidden)
        assert driver.execute_script("return window.notReloaded === true")  # type: ignore[attr-defined]
        assert driver.find_element(By.ID, "viewer-note").get_attribute("role") == "status"  # type: ignore[attr-defined]

        # Undo: back in its place in the grid, and in results.
        undo = driver.find_element(By.ID, "viewer-undo")  # type: ignore[attr-defined]
        assert undo.get_attribute("aria-label") == f"Undo: show “{names[1]}” again"
        undo.send_keys(Keys.ENTER)
        wait.until(lambda d: card_ids(d) == ids)
        wait.until(lambda d: "shown in results again" in note(d))
        assert not decisions.is_hidden(hidden)
        count = driver.find_element(By.ID, "viewer-count").get_attribute("textContent")  # type: ignore[attr-defined]
        assert count == f"3 of {len(ids)}"  # the counts know it came back

        # The only picture of a folder hidden: the viewer closes, the page's status line says
        # it, with "Undo".
        (root,) = folder_listing(served.library.store, None).folders
        driver.get(f"{served.url}/folders/{root.root_id}/copies")  # type: ignore[attr-defined]
        (only,) = wait.until(lambda d: card_ids(d))
        driver.execute_script(  # type: ignore[attr-defined]
            "arguments[0].click()", driver.find_element(By.CSS_SELECTOR, "#results a.open")
        )
        wait.until(lambda d: d.execute_script("return document.getElementById('viewer').open"))
        ids.append(only)
        driver.find_element(By.ID, "viewer-hide").click()  # type: ignore[attr-defined]
        wait.until(lambda d: not d.execute_script("return document.getElementById('viewer').open"))
        assert card_ids(driver) == [] and decisions.is_hidden(int(only))
        status = driver.find_element(By.ID, "viewer-page-note")  # type: ignore[attr-defined]
        assert status.get_attribute("role") == "status"
        wait.until(lambda d: "is hidden from results" in status.text)
        status.find_element(By.ID, "viewer-undo").click()
        wait.until(lambda d: card_ids(d) == [only])
        assert not decisions.is_hidden(int(only))
    finally:
        for image_id in ids:
            decisions.unhide(int(image_id))
    assert script_errors(driver) == []


def test_an_editor_adds_the_shown_picture_to_a_new_and_an_existing_album(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "ada")
    ids, names = open_viewer(driver, served, 0)
    name = f"From the viewer on a {size}"
    albums = Albums(served.library.store, LOCAL_PRINCIPAL)
    try:
        toggle = driver.find_element(By.ID, "viewer-album-toggle")  # type: ignore[attr-defined]
        assert toggle.get_attribute("aria-label") == f"Add “{names[0]}” to an album"
        toggle.send_keys(Keys.ENTER)
        wait.until(lambda d: d.find_element(By.ID, "viewer-album").is_displayed())
        assert toggle.get_attribute("aria-expanded") == "true"
        choice = Select(driver.find_element(By.ID, "viewer-album-choice"))  # type: ignore[attr-defined]
        choice.select_by_visible_text("A new album…")
        driver.find_element(By.ID, "viewer-new-album").send_keys(name)  # type: ignore[attr-defined]
        driver.find_element(By.ID, "viewer-album-add").click()  # type: ignore[attr-defined]
        wait.until(lambda d: f"added to “{name}”" in note(d))
        (album,) = [a for a in albums.list() if a.name == name]
        assert albums.items(album.id) == [int(ids[0])]
        link = driver.find_element(By.CSS_SELECTOR, "#viewer-note a")  # type: ignore[attr-defined]
        assert link.get_attribute("href").endswith(f"/albums/{album.id}")
        assert not driver.find_element(By.ID, "viewer-album").is_displayed()  # type: ignore[attr-defined]

        # The next picture, to the album now in the list.
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()  # focus is on the tools
        wait.until(lambda d: title(d) == names[1])
        driver.find_element(By.ID, "viewer-album-toggle").click()  # type: ignore[attr-defined]
        wait.until(lambda d: d.find_element(By.ID, "viewer-album").is_displayed())
        choice = Select(driver.find_element(By.ID, "viewer-album-choice"))  # type: ignore[attr-defined]
        choice.select_by_visible_text(name)
        assert not driver.find_element(By.ID, "viewer-new-album").is_displayed()  # type: ignore[attr-defined]
        driver.find_element(By.ID, "viewer-album-add").click()  # type: ignore[attr-defined]
        wait.until(lambda d: f"“{names[1]}” added to “{name}”" in note(d))
        assert albums.items(album.id) == [int(ids[0]), int(ids[1])]
        assert card_ids(driver) == ids  # adding never changes the grid
    finally:
        for kept in albums.list():
            if kept.name == name:
                albums.delete(kept.id)
    assert script_errors(driver) == []


def test_a_viewer_adds_to_their_own_album_but_cannot_hide(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,  # noqa: F811
) -> None:
    """Viewers own albums (the picture page offers them "Add to album" too), so the viewer
    gives them "+"; hiding changes the library for everyone, so "Hide" is an editor's."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    ids, _ = open_viewer(driver, served, 0)
    assert not driver.find_elements(By.ID, "viewer-hide")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.CSS_SELECTOR, "meta[name=pixsift-editor]")  # type: ignore[attr-defined]
    name = f"Vic's pick on a {size}"
    albums = Albums(served.library.store, LOCAL_PRINCIPAL)
    try:
        driver.find_element(By.ID, "viewer-album-toggle").click()  # type: ignore[attr-defined]
        wait.until(lambda d: d.find_element(By.ID, "viewer-album").is_displayed())
        choice = Select(driver.find_element(By.ID, "viewer-album-choice"))  # type: ignore[attr-defined]
        choice.select_by_visible_text("A new album…")
        driver.find_element(By.ID, "viewer-new-album").send_keys(name)  # type: ignore[attr-defined]
        driver.find_element(By.ID, "viewer-album-add").click()  # type: ignore[attr-defined]
        wait.until(lambda d: f"added to “{name}”" in note(d))
        (album,) = [a for a in albums.list() if a.name == name]
        assert album.owner == "user:vic"
        assert albums.items(album.id) == [int(ids[0])]
    finally:
        for kept in albums.list():
            if kept.name == name:
                albums.delete(kept.id)
    assert script_errors(driver) == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_viewer_s_tools_have_no_axe_violations(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,  # noqa: F811
    theme: str,
) -> None:
    from selenium.webdriver.common.by import By
    from test_accessibility_e2e import violations

    driver, wait = browser, page_wait(browser)
    use_size(driver, size, theme)
    log_in(driver, served.url, "ada")
    ids, _ = open_viewer(driver, served, 0)
    decisions = Decisions(served.library.store, LOCAL_PRINCIPAL)
    found = {}
    try:
        driver.find_element(By.ID, "viewer-album-toggle").click()  # type: ignore[attr-defined]
        wait.until(lambda d: d.find_element(By.ID, "viewer-album").is_displayed())
        found["album picker"] = violations(driver)
        driver.find_element(By.ID, "viewer-hide").click()  # type: ignore[attr-defined]
        wait.until(lambda d: "is hidden from results" in note(d))
        found["hidden, with undo"] = violations(driver)
    finally:
        decisions.unhide(int(ids[0]))
    assert {state: v for state, v in found.items() if v} == {}
