"""Filters on the page in Chromium at 1440x900 and 390x844 (issue 20, item 4): collapsed behind
one control (a bottom drawer on a phone), pickers made from the library, every active filter a
removable chip, "clear all", an empty state that names the filters, and the order kept."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from page_browser import Served, card_ids, log_in, script_errors
from test_page_e2e import browser, served, size  # noqa: F401  (fixtures)
from test_web_e2e import page_wait


def query_of(driver: object) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)  # type: ignore[attr-defined]


def test_filters_pick_show_as_chips_and_clear(
    browser: object,  # noqa: F811
    served: Served,  # noqa: F811
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=a+red+square&k=20")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    panel = driver.find_element(By.ID, "filters-panel")  # type: ignore[attr-defined]
    assert not panel.is_displayed()  # collapsed by default
    driver.find_element(By.ID, "filters-toggle").click()  # type: ignore[attr-defined]
    wait.until(lambda d: panel.is_displayed())
    rect = panel.rect
    if size == "phone":  # a drawer along the bottom of the screen
        height = driver.execute_script("return innerHeight")  # type: ignore[attr-defined]
        assert rect["x"] == 0 and abs(rect["y"] + rect["height"] - height) <= 2
    # Pickers from the library: the folder tree by name with counts, formats with counts.
    folder = Select(driver.find_element(By.ID, "filter-folder"))  # type: ignore[attr-defined]
    options = [option.text for option in folder.options]
    assert any("summer (3)" in option for option in options), options
    folder.select_by_value("photos/2023/summer")
    driver.find_element(By.CSS_SELECTOR, "input[name=format][value=JPEG]").click()  # type: ignore[attr-defined]
    driver.find_element(By.ID, "apply-filters").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "filter-chips"))
    assert len(card_ids(driver)) == 3
    chips = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#filter-chips .chip span")]  # type: ignore[attr-defined]
    assert chips == ["folder photos/2023/summer", "format JPEG"]
    assert "order" not in query_of(driver) and "mode" not in query_of(driver)

    # The order applies at once and survives the filters' Apply.
    Select(driver.find_element(By.ID, "order")).select_by_value("date")  # type: ignore[attr-defined]
    wait.until(lambda d: query_of(d).get("order") == ["date"])
    assert query_of(driver)["format"] == ["JPEG"]

    # A filter that empties the results is named in the empty state.
    driver.get(served.url + "/?q=a+red+square&format=jpg&orientation=portrait")  # type: ignore[attr-defined]
    empty = driver.find_element(By.ID, "no-results").text  # type: ignore[attr-defined]
    assert "format JPEG" in empty and "portrait" in empty
    # Removing a chip drops that filter only; "clear all" drops them all.
    driver.find_element(By.CSS_SELECTOR, "#filter-chips [data-filter=orientation] a").click()  # type: ignore[attr-defined]
    wait.until(lambda d: "orientation" not in query_of(d) and card_ids(d))
    assert query_of(driver)["format"] == ["JPEG"] and len(card_ids(driver)) == 3
    driver.find_element(By.ID, "clear-all").click()  # type: ignore[attr-defined]
    wait.until(lambda d: set(query_of(d)) == {"q"} and not d.find_elements(By.ID, "filter-chips"))
    assert script_errors(driver) == []
