"""Albums in a real headless Chromium: tick results and add them to an album (albums.js), see the
album, share it, and open the link as a visitor would."""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

from test_web_e2e import browser, card_ids, page_wait, pictures, server_url  # noqa: F401


def test_add_selected_results_to_an_album_and_open_its_share_link(
    browser: object,  # noqa: F811
    server_url: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    wait = page_wait(driver)
    made = Request(
        f"{server_url}/api/albums",
        data=json.dumps({"name": "From the browser"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urlopen(made) as response:
        album_id = json.load(response)["id"]
    driver.get(f"{server_url}/?q=anything")  # type: ignore[attr-defined]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results li.card input.pick")) >= 2)
    chosen = card_ids(driver)[:2]
    for box in driver.find_elements(By.CSS_SELECTOR, "#results li.card input.pick")[:2]:  # type: ignore[attr-defined]
        box.click()
    select = driver.find_element(By.CSS_SELECTOR, "#add-to-album select[name=album_id]")  # type: ignore[attr-defined]
    select.find_element(By.CSS_SELECTOR, f"option[value='{album_id}']").click()
    button = driver.find_element(By.ID, "add-selected")  # type: ignore[attr-defined]
    wait.until(lambda d: button.is_displayed())
    button.click()
    wait.until(lambda d: d.find_elements(By.ID, "album-images"))
    shown = [
        card.get_attribute("data-id")
        for card in driver.find_elements(By.CSS_SELECTOR, "#album-images li.card")  # type: ignore[attr-defined]
    ]
    assert shown == chosen
    driver.find_element(By.ID, "share").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#new-link input"))
    link = driver.find_element(By.CSS_SELECTOR, "#new-link input").get_attribute("value")  # type: ignore[attr-defined]
    driver.get(link)  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_elements(By.ID, "shared-images"))
    visible = driver.find_elements(By.CSS_SELECTOR, "#shared-images li.result")  # type: ignore[attr-defined]
    assert [item.get_attribute("data-id") for item in visible] == chosen
    every_loaded = (
        "return [...document.querySelectorAll('#shared-images img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    wait.until(lambda d: d.execute_script(every_loaded))
