"""The map of places (issue 21, item 4): Leaflet served from this server, points on a plain
background unless a tile server is configured (then the page may load images from that origin
only), shown only to those who may see GPS positions."""

from __future__ import annotations

from page_browser import Served, log_in, script_errors
from test_keep_e2e import kept  # noqa: F401  (fixture)
from test_page_e2e import browser, size  # noqa: F401  (fixtures)
from test_web_e2e import page_wait

from pixsift.search.library import Library
from pixsift.web import create_app

TILES = "https://tiles.example.org/{z}/{x}/{y}.png"


def test_tiles_are_off_by_default_and_a_configured_server_is_the_only_new_origin(
    library: Library,
) -> None:
    plain = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    page = plain.get("/map")
    assert page.status_code == 200 and 'data-tiles=""' in page.get_data(as_text=True)
    assert "img-src 'self' blob: data:;" in page.headers["Content-Security-Policy"]
    assert plain.get("/map/points.json").get_json() == {"points": [], "total": 0}
    tiled = create_app({"TESTING": True, "LIBRARY": library, "MAP_TILES": TILES}).test_client()
    page = tiled.get("/map")
    policy = page.headers["Content-Security-Policy"]
    assert "img-src 'self' https://tiles.example.org blob: data:;" in policy
    assert (
        "default-src 'self';" in policy
        and 'data-tiles="https://tiles.example.org/' in page.get_data(as_text=True)
    )
    # Every other page keeps the plain policy.
    assert "tiles.example.org" not in tiled.get("/albums").headers["Content-Security-Policy"]


#: Whether a click at the middle of arguments[0] reaches it (nothing covers or clips it there).
UNDER_THE_POINTER = """
const box = arguments[0].getBoundingClientRect();
const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
return hit !== null && (hit === arguments[0] || arguments[0].contains(hit));
"""


def test_the_map_shows_each_placed_picture_and_opens_it(
    browser: object,  # noqa: F811
    kept: Served,  # noqa: F811
    size: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    # Viewers see no GPS by default: no map link, and the map is refused.
    log_in(driver, kept.url, "vic")
    driver.get(kept.url + "/?q=a+photo")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.ID, "map-link")  # type: ignore[attr-defined]
    driver.get(kept.url + "/map")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.ID, "map")  # type: ignore[attr-defined]
    assert "hidden from viewers" in driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]

    log_in(driver, kept.url, "ada")
    driver.get(kept.url + "/?q=a+photo")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "map-link").click()  # type: ignore[attr-defined]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map path.place-point")) == 6)
    assert driver.find_element(By.ID, "map-count").text == "6 pictures with a place."  # type: ignore[attr-defined]
    assert driver.find_elements(By.ID, "map-no-tiles")  # type: ignore[attr-defined]
    # Nothing was asked of another server (no tiles, Leaflet served from here).
    origins = driver.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
    )
    assert set(origins) == {kept.url}
    point = driver.find_element(By.CSS_SELECTOR, "#map path.place-point")  # type: ignore[attr-defined]
    picture = point.get_attribute("data-id")
    driver.execute_script(  # type: ignore[attr-defined]
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", point
    )
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".map-popup img"))
    # Shown once Leaflet has panned the popup into view (an animation on a phone's screen).
    popup = wait.until(
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, ".map-popup") if e.text), None)
    )
    assert popup.text in ("Lisbon, Portugal", "Tokyo, Japan")
    loaded = "return document.querySelector('.map-popup img').naturalWidth > 0"
    wait.until(lambda d: d.execute_script(loaded))
    # Clicked once it is where a click lands: Leaflet may still be panning it out from under
    # the map's edge (on a phone the page around the map took the click once in CI).
    link = popup.find_element(By.TAG_NAME, "a")
    wait.until(lambda d: d.execute_script(UNDER_THE_POINTER, link))
    link.click()
    wait.until(lambda d: d.current_url.endswith(f"/images/{picture}"))
    assert script_errors(driver, allowed=r"/map - Failed to load resource: .* 403") == []
