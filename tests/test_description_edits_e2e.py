"""The image page's description form in a real Chromium, with accounts: an admin writes a
description (the form carries its CSRF token) and sees it marked as written by hand; a viewer
sees the description but no form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import write_pictures
from page_browser import PASSWORDS, Served, chromium, log_in, script_errors, serve, use_size
from test_web import index_folders

from pixsift.search.accounts import Accounts
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.storage.descriptions import MANUAL

WRITTEN = "a lighthouse on a rock at dusk"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Served]:
    pictures = tmp_path_factory.mktemp("description-pictures")
    write_pictures(pictures, 2)
    library = Library.open(tmp_path_factory.mktemp("description-library"), embedder=tiny_embedder)
    index_folders(library, tiny_embedder, pictures)
    accounts = Accounts(library.store)
    for name, password in PASSWORDS.items():
        accounts.add_user(name, password, "admin" if name == "ada" else "viewer")
    with serve(library, pictures, LOGIN_RATE_LIMIT="1000 per minute") as running:
        yield running
    library.close()


def test_an_admin_writes_a_description_in_the_page_and_a_viewer_only_reads_it(
    served: Served,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium() as driver:
        use_size(driver, "desktop")
        log_in(driver, served.url, "ada")
        driver.get(served.url + "/images/1")  # type: ignore[attr-defined]
        field = driver.find_element(By.ID, "description-text")  # type: ignore[attr-defined]
        field.clear()
        field.send_keys(WRITTEN)
        driver.find_element(  # type: ignore[attr-defined]
            By.CSS_SELECTOR, "form.edit-description button[value=save]"
        ).click()
        WebDriverWait(driver, 20).until(
            lambda d: WRITTEN in d.find_element(By.CSS_SELECTOR, "dd.caption").text
        )
        shown = driver.find_element(By.CSS_SELECTOR, "dd.caption").text  # type: ignore[attr-defined]
        assert "written by hand" in shown
        record = served.library.image(1)
        assert (record.caption, record.caption_by) == (WRITTEN, MANUAL)
        assert script_errors(driver) == []

        log_in(driver, served.url, "vic")
        driver.get(served.url + "/images/1")  # type: ignore[attr-defined]
        caption = driver.find_element(By.CSS_SELECTOR, "dd.caption")  # type: ignore[attr-defined]
        assert WRITTEN in caption.text
        assert driver.find_elements(By.CSS_SELECTOR, "form.edit-description") == []  # type: ignore[attr-defined]
        assert script_errors(driver) == []
