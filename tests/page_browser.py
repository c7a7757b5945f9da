"""Shared pieces of the page's browser tests: a served library with accounts, a Chromium at the
two sizes the page is designed for (1440x900 desktop, 390x844 phone) in either theme, logging
in, and the checks every page must pass (no script errors)."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from test_web_e2e import CHROMIUM_FLAGS, browser_paths
from werkzeug.serving import make_server

from pixsift.search.library import Library
from pixsift.web import create_app

#: (width, height, device pixel ratio, mobile) by name.
SIZES = {"desktop": (1440, 900, 1, False), "phone": (390, 844, 3, True)}
PASSWORDS = {"ada": "admin password", "vic": "viewer password"}


@dataclass(frozen=True)
class Served:
    url: str
    library: Library
    pictures: Path


@contextmanager
def serve(library: Library, pictures: Path, **config: object) -> Iterator[Served]:
    settings = {"LIBRARY": library, "SECRET_KEY": "k" * 40, **config}
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", library, pictures)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[object]:
    binary, driver_path = browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pixsift-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def use_size(driver: object, size: str, theme: str = "light") -> None:
    """Lay the page out as on ``size``'s screen, in ``theme`` (the system's colour scheme)."""
    width, height, ratio, mobile = SIZES[size]
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": ratio, "mobile": mobile},
    )
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": mobile})  # type: ignore[attr-defined]
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": theme}]},
    )


def log_in(driver: object, url: str, name: str) -> None:
    """Log in as ``name`` from a fresh login form.

    The page before is left for ``about:blank`` first: its requests still in flight (an image,
    the next page of results) could otherwise answer after the cookies were cleared and put an
    old session cookie back, so the form's CSRF token no longer matches. Should a form still be
    refused, it is filled again, as a person would, and the refusal's log line is dropped, so
    ``script_errors`` reports the page's own problems only."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # type: ignore[attr-defined]
    driver.delete_all_cookies()  # type: ignore[attr-defined]
    problem = ""
    for _attempt in range(3):
        driver.get(url + "/login")  # type: ignore[attr-defined]
        driver.find_element(By.NAME, "name").send_keys(name)  # type: ignore[attr-defined]
        password = driver.find_element(By.NAME, "password")  # type: ignore[attr-defined]
        password.send_keys(PASSWORDS[name])
        password.submit()
        try:
            WebDriverWait(driver, 10).until(lambda d: "/login" not in d.current_url)
            return
        except TimeoutException:
            problem = driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
            _keep_log(driver, drop=r"/login\S* - Failed to load resource: .* 400")
    raise AssertionError(f"could not log in as {name}: {problem}")


_KEPT_LOGS: dict[int, list[dict[str, object]]] = {}


def _keep_log(driver: object, drop: str) -> None:
    """Read the browser's log (which empties it), keeping every entry but those matching ``drop``
    for ``script_errors``."""
    kept = _KEPT_LOGS.setdefault(id(driver), [])
    kept.extend(
        entry
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if not re.search(drop, str(entry["message"]))
    )


def clear_log(driver: object) -> None:
    """Start a test with an empty browser log."""
    _KEPT_LOGS.pop(id(driver), None)
    driver.get_log("browser")  # type: ignore[attr-defined]


def script_errors(driver: object, allowed: str | None = None) -> list[dict[str, object]]:
    """SEVERE browser log entries (a script error, a CSP violation), except ``allowed``."""
    entries = _KEPT_LOGS.pop(id(driver), []) + driver.get_log("browser")  # type: ignore[attr-defined]
    return [
        entry
        for entry in entries
        if entry["level"] == "SEVERE"
        and not (allowed and re.search(allowed, str(entry["message"])))
    ]


def card_ids(driver: object) -> list[str]:
    from selenium.webdriver.common.by import By

    cards = driver.find_elements(By.CSS_SELECTOR, "#results li.card")  # type: ignore[attr-defined]
    return [card.get_attribute("data-id") for card in cards]


def every_page_shown(driver: object) -> bool:
    """The results page has loaded all its pages: its "more" link is hidden or absent. Until
    then the page may append cards at any moment (the next page loads on its own as the end of
    the list nears), so a test that keeps what it read to compare later waits for this first."""
    return bool(
        driver.execute_script(  # type: ignore[attr-defined]
            "const more = document.getElementById('more'); return !more || more.hidden;"
        )
    )


def in_viewport(driver: object, element: object) -> bool:
    return bool(
        driver.execute_script(  # type: ignore[attr-defined]
            "const r = arguments[0].getBoundingClientRect();"
            "return r.width > 0 && r.top >= 0 && r.bottom <= innerHeight;",
            element,
        )
    )
