"""Screenshots of every page at 1440x900 and 390x844 (light and dark), and the time until the
first screen of thumbnails is complete on a freshly indexed library.

    .venv/bin/python -m benchmarks.screenshots --out /tmp/pixsift-shots

Builds a library of seeded generated JPEGs in folders (ViT-B-32 with seeded random weights,
benchmarks.common), adds an admin account ``shots`` so that the login and accounts pages exist,
serves it on a loopback port in this process, and drives headless Chromium (selenium). Nothing
is written to the repository: screenshots go to --out, the figures to
benchmarks/results/screenshots.json (not committed).

Time to first thumbnails: from the navigation's start until every <img> of a result card in the
first screen has loaded (naturalWidth > 0), measured on the first visit after indexing (cold:
thumbnails made on request) and again with the browser's cache off (warm server).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import generated_jpegs, load_embedder, machine, print_table, write_results

SIZES = {"desktop": (1440, 900, 1, False), "phone": (390, 844, 3, True)}
FOLDERS = ("photos/2023/summer", "photos/2024/winter", "scans")
PASSWORD = "screenshot password"
FIRST_SCREEN = """
const cards = Array.from(document.querySelectorAll('#results li.card img'))
  .filter(img => img.getBoundingClientRect().top < innerHeight);
const done = cards.length > 0 && cards.every(img => img.complete && img.naturalWidth > 0);
return done ? [cards.length, performance.now()] : null;
"""


def build_library(work: Path, count: int):
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.accounts import Accounts
    from pixsift.search.library import Library

    embedder, _spec = load_embedder()
    pictures = work / "pictures"
    for number, folder in enumerate(FOLDERS):
        generated_jpegs(count // len(FOLDERS), pictures / folder / f"set{number}")
    library = Library.open(work / "library", embedder=embedder)
    options = IndexingOptions(batch_size=16, workers=1, show_progress=False)
    Indexer(library, embedder, options).index([pictures])
    accounts = Accounts(library.store)
    if "shots" not in [user.name for user in accounts.users()]:
        accounts.add_user("shots", PASSWORD, "admin")
    return library


def serve(library):
    from werkzeug.serving import make_server

    from pixsift.web import create_app

    app = create_app({"LIBRARY": library, "SECRET_KEY": "s" * 40, "LOGIN_RATE_LIMIT": "off"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def browser():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from page_browser import chromium

    return chromium()


def wait_for(driver, script: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"the page did not get there in {timeout:.0f} s")


def first_thumbnails(driver, url: str) -> dict[str, float]:
    driver.get(url)
    count, ready_ms = wait_for(driver, FIRST_SCREEN)
    return {"thumbnails": count, "ms": round(ready_ms, 1)}


def log_in(driver, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/login")
    driver.find_element(By.NAME, "name").send_keys("shots")
    password = driver.find_element(By.NAME, "password")
    password.send_keys(PASSWORD)
    password.submit()
    wait_for(driver, "return !location.pathname.startsWith('/login')")


def shoot(driver, url: str, out: Path, size: str, theme: str) -> list[str]:
    from selenium.webdriver.common.by import By

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from page_browser import use_size

    use_size(driver, size, theme)
    written = []

    def save(name: str) -> None:
        time.sleep(0.3)  # transitions settle
        path = out / f"{name}-{size}-{theme}.png"
        driver.save_screenshot(str(path))
        written.append(str(path))

    driver.delete_all_cookies()
    driver.get(url + "/login")
    save("login")
    log_in(driver, url)
    driver.get(url + "/")
    save("home")
    driver.get(url + "/?q=a+photo+of+a+beach&k=40")
    wait_for(driver, FIRST_SCREEN)
    save("results")
    driver.find_element(By.ID, "filters-toggle").click()
    save("filters")
    driver.find_element(By.ID, "filters-close").click()
    opener = driver.find_element(By.CSS_SELECTOR, "#results li.card a.open")
    page_url = opener.get_attribute("href")
    driver.execute_script("arguments[0].click()", opener)
    wait_for(driver, "const p = document.getElementById('viewer-picture');"
                     "return p && p.complete && p.naturalWidth > 0")  # fmt: skip
    save("viewer")
    driver.get(page_url)
    save("picture")
    driver.get(url + "/?q=a+photo+of+a+beach&format=tiff")
    save("empty-filtered")
    driver.get(url + "/duplicates")
    save("duplicates")
    driver.get(url + "/admin")
    save("accounts")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "pixsift-shots")
    parser.add_argument("--pictures", type=int, default=60)
    parser.add_argument("--themes", default="light,dark")
    parser.add_argument(
        "--work", type=Path, help="keep the library here and reuse it (indexing is incremental)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="pixsift-shots-"))
    started = time.perf_counter()
    library = build_library(work, args.pictures)
    indexed_s = time.perf_counter() - started
    # Cold means no thumbnail made yet, as right after a first indexing.
    shutil.rmtree(library.directory / "thumbnails", ignore_errors=True)
    server, url = serve(library)
    try:
        with browser() as driver:
            from page_browser import use_size

            timings = []
            log_in(driver, url)
            for size in SIZES:
                use_size(driver, size)
                # Cold: the first visit after indexing. Warm: again, browser cache off.
                query = f"{url}/?q=a+photo+of+a+{size}"
                cold = first_thumbnails(driver, query)
                driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
                warm = first_thumbnails(driver, query)
                driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
                timings.append({"size": size, "cold_ms": cold["ms"], "warm_ms": warm["ms"],
                                "thumbnails": cold["thumbnails"]})  # fmt: skip
            shots = []
            for theme in args.themes.split(","):
                for size in SIZES:
                    shots += shoot(driver, url, args.out, size, theme)
    finally:
        server.shutdown()
        library.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print_table(timings, ["size", "thumbnails", "cold_ms", "warm_ms"])
    print(f"{len(shots)} screenshots in {args.out}")
    write_results(
        "screenshots",
        {"machine": machine(), "pictures": args.pictures, "indexing_s": round(indexed_s, 1),
         "first_thumbnails": timings, "screenshots": shots},
    )  # fmt: skip


if __name__ == "__main__":
    main()
