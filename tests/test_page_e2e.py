"""The page's fixes in a real Chromium, at 1440x900 and 390x844 (issue 20): an image search shows
the text it carries as a chip, the accounts page confirms and keeps an admin, a new key is shown
once, an ended session says so where the reader is, refusals read as sentences, cards carry no
raw scores, and "why?" runs on click with a spinner and a legend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest
from conftest import write_pictures
from page_browser import (
    PASSWORDS,
    SIZES,
    Served,
    card_ids,
    chromium,
    clear_log,
    in_viewport,
    log_in,
    script_errors,
    serve,
    use_size,
)
from PIL import Image
from test_web import index_folders
from test_web_e2e import page_wait

from pixsift.search.accounts import Accounts
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder

PAGE_SIZE = 4


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Served]:
    pictures = tmp_path_factory.mktemp("page-pictures")
    write_pictures(pictures, 10)
    write_pictures(pictures / "photos" / "2023" / "summer", 3, first_seed=100, suffix=".jpg")
    # A smaller copy of one picture: a near-duplicate pair.
    with Image.open(pictures / "picture-0001.png") as original:
        (pictures / "copies").mkdir()
        original.resize((original.width // 2, original.height // 2)).save(
            pictures / "copies" / "picture-0001-small.png"
        )
    library = Library.open(tmp_path_factory.mktemp("page-library"), embedder=tiny_embedder)
    index_folders(library, tiny_embedder, pictures)
    accounts = Accounts(library.store)
    for name, password in PASSWORDS.items():
        accounts.add_user(name, password, "admin" if name == "ada" else "viewer")
    with serve(
        library, pictures, PAGE_SIZE=PAGE_SIZE, LOGIN_RATE_LIMIT="1000 per minute"
    ) as running:
        yield running
    library.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest, browser: object) -> str:
    use_size(browser, request.param)
    clear_log(browser)
    return request.param


def test_an_image_search_shows_the_text_it_carries_as_a_removable_chip(
    browser: object, served: Served, size: str
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=a+red+square")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    example = served.pictures / "picture-0002.png"
    driver.find_element(By.ID, "image-file").send_keys(str(example))  # type: ignore[attr-defined]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#query-chips .chip")) == 2)
    heading = driver.find_element(By.CSS_SELECTOR, ".results-head h1").text  # type: ignore[attr-defined]
    assert "picture-0002.png" in heading and "a red square" in heading
    chips = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#query-chips .chip span")]  # type: ignore[attr-defined]
    assert chips == ["Image: picture-0002.png", "Text: a red square"]
    # Removing the text searches the image alone: an image is most like itself.
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Search without the text']").click()  # type: ignore[attr-defined]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#query-chips .chip")) == 1)
    first = driver.find_element(By.CSS_SELECTOR, "#results li.card .name")  # type: ignore[attr-defined]
    assert first.get_attribute("textContent") == "picture-0002.png"
    assert driver.find_element(By.ID, "q").get_attribute("value") == ""  # type: ignore[attr-defined]
    # Removing the image goes back to a text search (here: none, the home page).
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Search without the image']").click()  # type: ignore[attr-defined]
    wait.until(lambda d: not d.find_elements(By.ID, "query-chips"))
    assert script_errors(driver) == []


def test_the_accounts_page_confirms_keeps_an_admin_and_shows_a_key_once(
    browser: object, served: Served, size: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, page_wait(browser)
    accounts = Accounts(served.library.store)
    temp = accounts.add_user(f"tmp-{size}", "temporary password", "viewer")
    log_in(driver, served.url, "ada")
    driver.get(served.url + "/admin")  # type: ignore[attr-defined]
    ada = accounts.user("ada")
    # Every role select is labelled with its user.
    label = driver.find_element(By.CSS_SELECTOR, f"label[for='role-{ada.id}']")  # type: ignore[attr-defined]
    assert label.get_attribute("textContent") == "Role of ada"
    # The only admin cannot be removed, nor demoted (the server refuses and says why).
    remove_ada = driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove ada']")  # type: ignore[attr-defined]
    assert not remove_ada.is_enabled()
    Select(driver.find_element(By.ID, f"role-{ada.id}")).select_by_value("viewer")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button[aria-label='Set the role of ada']").click()  # type: ignore[attr-defined]
    wait.until(lambda d: "only admin" in d.find_element(By.ID, "admin-error").text)
    assert accounts.user("ada").role == "admin"

    # Remove asks first: Cancel keeps the user, the named action removes it.
    driver.get(served.url + "/admin")  # type: ignore[attr-defined]
    remove = f"button[aria-label='Remove {temp.name}']"
    driver.find_element(By.CSS_SELECTOR, remove).click()  # type: ignore[attr-defined]
    dialog = wait.until(lambda d: d.find_element(By.ID, "confirm"))
    wait.until(lambda d: dialog.is_displayed())
    assert temp.name in dialog.text
    driver.find_element(By.ID, "confirm-cancel").click()  # type: ignore[attr-defined]
    assert temp.name in [user.name for user in accounts.users()]
    driver.find_element(By.CSS_SELECTOR, remove).click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_element(By.ID, "confirm").is_displayed())
    driver.find_element(By.ID, "confirm-yes").click()  # type: ignore[attr-defined]
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, remove))
    assert temp.name not in [user.name for user in accounts.users()]

    # A new key: its token in a dialog with a copy button, on /admin, whose reload posts nothing.
    form = driver.find_element(By.ID, "create-key")  # type: ignore[attr-defined]
    form.find_element(By.NAME, "name").send_keys(f"backup {size}")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    dialog = wait.until(lambda d: d.find_element(By.ID, "new-key"))
    wait.until(lambda d: dialog.is_displayed())
    token = driver.find_element(By.ID, "new-token").text  # type: ignore[attr-defined]
    assert token.startswith("pxs_") and driver.find_element(By.ID, "copy-token").is_displayed()  # type: ignore[attr-defined]
    assert driver.current_url == served.url + "/admin"  # type: ignore[attr-defined]
    keys_before = len(accounts.api_keys())
    driver.refresh()  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_element(By.ID, "keys"))
    assert not driver.find_elements(By.ID, "new-token")  # type: ignore[attr-defined]
    assert len(accounts.api_keys()) == keys_before
    # The tables scroll inside the page rather than widen it.
    overflow = driver.execute_script("return document.documentElement.scrollWidth - innerWidth")  # type: ignore[attr-defined]
    assert overflow <= 0
    assert script_errors(driver, allowed=r"409 \(CONFLICT\)") == []  # the refused demotion


def test_an_ended_session_says_so_where_the_reader_is(
    browser: object, served: Served, size: str
) -> None:
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    accounts = Accounts(served.library.store)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=a+red+square")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    # The password changes elsewhere: this browser's session ends.
    accounts.set_password("vic", PASSWORDS["vic"])
    if size == "desktop":
        # A thumbnail that fails to load (scrolled into view after the end).
        driver.execute_script(  # type: ignore[attr-defined]
            "const img = document.createElement('img');"
            "img.src = document.querySelector('#results img').src + '&late=1';"
            "document.getElementById('results').append(img);"
        )
    else:
        # A request of the page's own (the viewer's details) answered 401.
        opener = driver.find_element(By.CSS_SELECTOR, "#results li.card a.open")  # type: ignore[attr-defined]
        driver.execute_script("arguments[0].click()", opener)  # type: ignore[attr-defined]

    note = wait.until(lambda d: d.find_element(By.ID, "session-ended"))
    assert in_viewport(driver, note)
    link = driver.find_element(By.ID, "session-login")  # type: ignore[attr-defined]
    assert "/login?next=" in link.get_attribute("href")
    link.click()
    driver.find_element(By.NAME, "name").send_keys("vic")  # type: ignore[attr-defined]
    password = driver.find_element(By.NAME, "password")  # type: ignore[attr-defined]
    password.send_keys(PASSWORDS["vic"])
    password.submit()
    # Back where the reader was: the results, or the picture the viewer showed.
    wait.until(
        lambda d: (
            "q=a+red+square" in d.current_url
            and (card_ids(d) or d.find_elements(By.CSS_SELECTOR, ".detail a.full img"))
        )
    )
    assert script_errors(driver, allowed=r"401|thumbnail") == []


def test_a_session_ended_before_the_viewer_opens_is_said_inside_it(
    browser: object, served: Served, size: str
) -> None:
    """The order the test above may also meet: the session's end is seen first by a request of
    the page (the next page of results refused), then a picture is opened in the viewer, whose
    modal makes the page behind it inert. The note follows the reader into the viewer, where its
    link can be clicked, and back to the page when the viewer closes."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=a+red+square")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    inside_viewer = "return Boolean(document.querySelector('#viewer #session-ended'))"
    Accounts(served.library.store).set_password("vic", PASSWORDS["vic"])  # ended elsewhere
    driver.execute_script("window.pixsiftSession.ended()")  # type: ignore[attr-defined]
    assert not driver.execute_script(inside_viewer)  # type: ignore[attr-defined]
    opener = driver.find_element(By.CSS_SELECTOR, "#results li.card a.open")  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].click()", opener)  # type: ignore[attr-defined]
    wait.until(lambda d: d.execute_script(inside_viewer))
    note = driver.find_element(By.ID, "session-ended")  # type: ignore[attr-defined]
    assert note.is_displayed() and in_viewport(driver, note)
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait.until(lambda d: not d.execute_script("return document.getElementById('viewer').open"))
    assert not driver.execute_script(inside_viewer)  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "session-ended").is_displayed()  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].click()", opener)  # type: ignore[attr-defined]
    wait.until(lambda d: d.execute_script(inside_viewer))
    driver.find_element(By.ID, "session-login").click()  # type: ignore[attr-defined]
    wait.until(lambda d: "/login?next=" in d.current_url)
    # Read (and so emptied) here: the refused requests are this test's, not the next one's.
    assert script_errors(driver, allowed=r"401|thumbnail") == []


def test_a_refused_search_reads_as_a_sentence(browser: object, served: Served, size: str) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=%20%20")  # type: ignore[attr-defined]
    text = driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    assert "type a few words to search for" in text
    assert "pattern" not in text and "should" not in text


def test_cards_show_no_raw_score_and_why_runs_on_click(
    browser: object, served: Served, size: str
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, wait = browser, page_wait(browser)
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/?q=a+red+square")  # type: ignore[attr-defined]
    wait.until(lambda d: card_ids(d))
    card = driver.find_elements(By.CSS_SELECTOR, "#results li.card")[0]  # type: ignore[attr-defined]
    assert not driver.find_elements(By.CSS_SELECTOR, "#results .score")  # type: ignore[attr-defined]
    assert card.find_element(By.CSS_SELECTOR, "a.open").get_attribute("title") == card.find_element(
        By.CSS_SELECTOR, ".name"
    ).get_attribute("textContent")
    why = card.find_element(By.CSS_SELECTOR, "button.why")
    asked = (
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/explain')).length"
    )
    holder = card
    if size == "desktop":
        # Hovering asks nothing of the server.
        ActionChains(driver).move_to_element(card).pause(0.3).move_to_element(why).pause(
            0.5
        ).perform()
        assert driver.execute_script(asked) == 0  # type: ignore[attr-defined]
    else:
        # A phone has no hover: the card is the picture; "why?" is in the viewer.
        assert not why.is_displayed()
        driver.execute_script("arguments[0].click()", card.find_element(By.CSS_SELECTOR, "a.open"))  # type: ignore[attr-defined]
        wait.until(lambda d: d.execute_script("return document.getElementById('viewer').open"))
        holder = driver.find_element(By.ID, "viewer-stage")  # type: ignore[attr-defined]
        why = driver.find_element(By.CSS_SELECTOR, "#viewer .viewer-why")  # type: ignore[attr-defined]
    driver.execute_script(  # type: ignore[attr-defined]
        "window.__sawSpinner = false; new MutationObserver(() => {"
        " if (arguments[0].classList.contains('explaining')) window.__sawSpinner = true;"
        "}).observe(arguments[0], {attributes: true});",
        holder,
    )
    why.click()
    wait.until(lambda d: holder.find_elements(By.CSS_SELECTOR, ".why-legend"))
    overlay = holder.find_element(By.CSS_SELECTOR, "img.why-overlay")
    wait.until(lambda d: int(overlay.get_property("naturalWidth") or 0) > 0)
    assert driver.execute_script("return window.__sawSpinner")  # type: ignore[attr-defined]
    legend = holder.find_element(By.CSS_SELECTOR, ".why-legend").get_attribute("textContent")
    assert "Red raises the score" in legend and "outlined square" in legend
    assert why.get_attribute("aria-pressed") == "true"
    why.click()  # a second click hides it
    wait.until(lambda d: not overlay.is_displayed())
    assert driver.execute_script(asked) == 1  # type: ignore[attr-defined]
    assert script_errors(driver) == []


def test_the_api_answers_for_the_combined_search_the_page_shows(served: Served) -> None:
    """The chips say what is searched: with accounts, the API needs a key (not a cookie)."""
    token = Accounts(served.library.store).create_key("probe", "viewer").token
    from urllib.request import Request

    request = Request(served.url + "/api/search?q=a+red+square&k=2")
    request.add_header("Authorization", f"Bearer {token}")
    with urlopen(request) as response:
        body = json.load(response)
    assert body["query"]["type"] == "text" and len(body["results"]) == 2
    assert Path(served.pictures).is_dir()


def test_duplicates_are_decisions(browser: object, served: Served, size: str) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    log_in(driver, served.url, "vic")
    driver.get(served.url + "/duplicates?threshold=0.995")  # type: ignore[attr-defined]
    # (The tests' model has random weights: other pictures may group too; find the copy's.)
    group = driver.find_element(  # type: ignore[attr-defined]
        By.XPATH,
        "//section[contains(@class,'duplicate-group')][.//li[contains(., 'picture-0001-small.png')]]",
    )
    copies = group.find_elements(By.CSS_SELECTOR, "li.copy")
    names = [copy.find_element(By.CSS_SELECTOR, "dd").text for copy in copies]
    assert names[0] == "picture-0001.png", names  # more pixels: the copy to keep
    assert "best" in copies[0].get_attribute("class") and "Best copy" in copies[0].text
    assert "best" not in copies[1].get_attribute("class")
    assert group.find_element(By.TAG_NAME, "h2").text.startswith("picture-0001.png and")
    slider = driver.find_element(By.ID, "threshold")  # type: ignore[attr-defined]
    assert slider.get_attribute("type") == "range"
    export = driver.find_element(By.ID, "export-others").get_attribute("href")  # type: ignore[attr-defined]
    listed = driver.execute_script(  # type: ignore[attr-defined]
        "return fetch(arguments[0]).then(r => r.text())", export
    )
    assert "copies/picture-0001-small.png" in listed.split()
    assert "picture-0001.png" not in listed.split()
    assert script_errors(driver) == []
