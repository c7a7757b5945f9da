"""axe-core finds no violations on any page, in both themes, at both sizes (issue 20, item 10):
the home page, results with the filters open, the viewer, a picture's page, duplicates, the
accounts page and the login form; and the keyboard basics (skip link, "/" to search, arrow keys
in the grid, one tab stop per card, results announced)."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_browser import Served, card_ids, log_in, use_size
from test_page_e2e import browser, served  # noqa: F401  (fixtures)
from test_web_e2e import page_wait

AXE = Path(__file__).parent / "support" / "axe-core" / "axe.min.js"
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(result => done(result.violations.map(v => (
  {id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));
"""


def violations(driver: object) -> list[dict[str, object]]:
    driver.set_script_timeout(60)  # type: ignore[attr-defined]
    if not driver.execute_script("return typeof axe !== 'undefined'"):  # type: ignore[attr-defined]
        driver.execute_script(AXE.read_text())  # type: ignore[attr-defined]
    return driver.execute_async_script(RUN_AXE)  # type: ignore[attr-defined]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_has_no_axe_violations(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,
    theme: str,
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    use_size(driver, size, theme)
    found: dict[str, list[dict[str, object]]] = {}
    driver.delete_all_cookies()  # type: ignore[attr-defined]
    driver.get(served.url + "/login")  # type: ignore[attr-defined]
    found["login"] = violations(driver)
    log_in(driver, served.url, "ada")
    pages = {
        "home": "/",
        "results": "/?q=a+red+square&format=jpg&k=20",
        "duplicates": "/duplicates",
        "accounts": "/admin",
    }
    for name, path in pages.items():
        driver.get(served.url + path)  # type: ignore[attr-defined]
        found[name] = violations(driver)
    driver.get(served.url + "/?q=a+red+square&k=20")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    driver.find_element(By.ID, "filters-toggle").click()  # type: ignore[attr-defined]
    found["filters open"] = violations(driver)
    driver.find_element(By.ID, "filters-close").click()  # type: ignore[attr-defined]
    first = driver.find_element(By.CSS_SELECTOR, "#results li.card a.open")  # type: ignore[attr-defined]
    picture_url = first.get_attribute("href")
    driver.execute_script("arguments[0].click()", first)  # type: ignore[attr-defined]
    wait.until(lambda d: d.execute_script("return document.getElementById('viewer').open"))
    wait.until(
        lambda d: "Size" in d.find_element(By.ID, "viewer-info").get_attribute("textContent")
    )
    found["viewer"] = violations(driver)
    driver.get(picture_url)  # type: ignore[attr-defined]
    found["picture page"] = violations(driver)
    assert {page: v for page, v in found.items() if v} == {}


def test_the_keyboard_reaches_and_walks_the_results(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, wait = browser, page_wait(browser)
    use_size(driver, "desktop")
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=a+red+square&k=20")  # type: ignore[attr-defined]
    wait.until(lambda d: len(card_ids(d)) > 8)

    def focused() -> str:
        return driver.execute_script(  # type: ignore[attr-defined]
            "const e = document.activeElement; const c = e.closest('li.card');"
            "return (c ? 'card:' + c.dataset.id + ':' : '') + (e.id || e.className || e.tagName);"
        )

    # The first Tab reaches the skip link, which leads to the pictures.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # type: ignore[attr-defined]
    assert focused() == "skip-link"
    # "/" focuses the search box.
    driver.execute_script("document.activeElement.blur()")  # type: ignore[attr-defined]
    ActionChains(driver).send_keys("/").perform()
    assert focused() == "q"
    # One tab stop per card: Tab from the first card's link goes to the second card's link.
    ids = card_ids(driver)
    first = driver.find_element(By.CSS_SELECTOR, "#results li.card a.open")  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].focus()", first)  # type: ignore[attr-defined]
    links = driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('#results li.card:nth-child(2) a, "
        "#results li.card:nth-child(2) button')).map(e => e.tabIndex)"
    )
    assert links[0] == 0 and all(index == -1 for index in links[1:])
    # Arrow keys: right to the next card, down a row, left back.
    ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
    assert focused().startswith(f"card:{ids[1]}:")
    columns = driver.execute_script(  # type: ignore[attr-defined]
        "return getComputedStyle(document.getElementById('results'))"
        ".gridTemplateColumns.split(' ').length"
    )
    ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()
    assert focused().startswith(f"card:{ids[1 + columns]}:")
    ActionChains(driver).send_keys(Keys.HOME).perform()
    assert focused().startswith(f"card:{ids[0]}:")

    # The results are announced in the live region (written once the page settles; a next page
    # loaded meanwhile is counted too).
    def announced(d: object) -> bool:
        status = d.find_element(By.ID, "status").get_attribute("textContent")  # type: ignore[attr-defined]
        return f"{len(card_ids(d))} pictures" in status

    wait.until(announced)
