"""The full-screen viewer in Chromium at 1440x900 and 390x844 (issue 20, item 2): it opens a
result on its page's URL with a screen-sized preview, walks the results with the arrow keys (and
a swipe on a phone), shows the details, loads the original only on zoom, and Esc returns to the
grid where it was."""

from __future__ import annotations

import re

from page_browser import Served, card_ids, every_page_shown, log_in, script_errors
from test_page_e2e import browser, served, size  # noqa: F401  (fixtures)
from test_web_e2e import page_wait

ORIGINALS = (
    "return performance.getEntriesByType('resource')"
    ".filter(e => e.name.includes('/original')).length"
)


def viewer_state(driver: object) -> dict[str, object]:
    return driver.execute_script(  # type: ignore[attr-defined]
        "const v = document.getElementById('viewer');"
        "const p = document.getElementById('viewer-picture');"
        "return {open: Boolean(v && v.open), src: p ? p.getAttribute('src') : null,"
        " title: v ? document.getElementById('viewer-title').textContent : null,"
        " loaded: p ? p.complete && p.naturalWidth > 0 : false,"
        " info: v ? document.getElementById('viewer-info').textContent : ''};"
    )


def swipe_left(driver: object) -> None:
    """A finger moving 200 px to the left over the picture."""
    for kind, x in (("touchStart", 300), ("touchMove", 200), ("touchEnd", 100)):
        points = [] if kind == "touchEnd" else [{"x": x, "y": 400}]
        driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})  # type: ignore[attr-defined]


def test_the_viewer_walks_the_results_and_returns_to_the_grid(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    grid_url = served.url + "/?q=a+red+square&k=10"
    driver.get(grid_url)  # type: ignore[attr-defined]
    # The grid read below is compared with the grid after Esc: every page first (the next page
    # loads on its own, and could otherwise be appended after the read).
    wait.until(lambda d: len(card_ids(d)) >= 6 and every_page_shown(d))
    driver.execute_script("window.scrollTo(0, 120)")  # type: ignore[attr-defined]
    scrolled = driver.execute_script("return scrollY")  # type: ignore[attr-defined]
    ids = card_ids(driver)
    names = [
        card.get_attribute("data-name")
        for card in driver.find_elements(By.CSS_SELECTOR, "#results li.card")  # type: ignore[attr-defined]
    ]

    second = driver.find_elements(By.CSS_SELECTOR, "#results li.card a.open")[1]  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].click()", second)  # type: ignore[attr-defined]
    wait.until(lambda d: viewer_state(d)["open"] and viewer_state(d)["loaded"])
    state = viewer_state(driver)
    assert state["title"] == names[1]
    assert "/sized/1600" in str(state["src"])  # the preview, not the original
    assert re.search(rf"/images/{ids[1]}\?q=a\+red\+square$", driver.current_url)  # type: ignore[attr-defined]
    assert driver.execute_script(ORIGINALS) == 0  # type: ignore[attr-defined]

    viewer = driver.find_element(By.ID, "viewer")  # type: ignore[attr-defined]
    if size == "phone":
        swipe_left(driver)
    else:
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
    wait.until(lambda d: viewer_state(d)["title"] == names[2])
    assert f"/images/{ids[2]}" in driver.current_url  # type: ignore[attr-defined]
    ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
    wait.until(lambda d: viewer_state(d)["title"] == names[1])

    # The details: similarity, size in MB/KB, a readable date (never a raw ISO string).
    if size == "phone":
        ActionChains(driver).send_keys("i").perform()
    wait.until(lambda d: "Size" in str(viewer_state(d)["info"]))
    info = str(viewer_state(driver)["info"])
    assert "Similarity (cosine)" in info and re.search(r"\d+(\.\d)? (KB|MB)", info)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", info)
    assert viewer.find_element(By.ID, "viewer-info").is_displayed()

    # Zoom: now the original.
    ActionChains(driver).send_keys("z").perform()
    wait.until(lambda d: "/original" in str(viewer_state(d)["src"]) and viewer_state(d)["loaded"])

    # Esc: the grid again, at the same place, with the shown picture's card focused.
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait.until(lambda d: not viewer_state(d)["open"] and d.current_url == grid_url)
    assert driver.execute_script("return scrollY") == scrolled  # type: ignore[attr-defined]
    focused = driver.execute_script("return document.activeElement.closest('li.card').dataset.id")  # type: ignore[attr-defined]
    assert focused == ids[1]
    assert card_ids(driver) == ids  # the grid was never reloaded

    # The shared URL is the picture's page: readable date, size in MB/KB, the preview.
    driver.get(f"{served.url}/images/{ids[1]}")  # type: ignore[attr-defined]
    facts = driver.find_element(By.CSS_SELECTOR, ".facts dl").text  # type: ignore[attr-defined]
    assert re.search(r"\d+(\.\d)? (KB|MB)", facts) and not re.search(r"\d{4}-\d\d-\d\dT", facts)
    picture = driver.find_element(By.CSS_SELECTOR, ".detail a.full img")  # type: ignore[attr-defined]
    assert "/sized/1600" in picture.get_attribute("src")
    assert script_errors(driver) == []
