"""The web page in real headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

Without the browser the test is skipped, unless PRESSWIRE_TEST_REQUIRE_BROWSER=1 (set by .ci/run).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from ingest.web import create_app
from ingest.web.app import WebConfig
from reading import T0, LiveServer, add_source, make_item, open_store, promo, save, set_columns

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EVIL = 'Evil <script>window.pwned = 1; alert("pwned")</script> results'


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        if os.environ.get("PRESSWIRE_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} / {DRIVER} not found and PRESSWIRE_TEST_REQUIRE_BROWSER=1")
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="presswire-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def site(sqlite_url):
    engine, sessions = open_store(sqlite_url)
    source = add_source(sessions, "https://wire.example/feed", "Example Wire")
    ids = save(sessions, source, [make_item(n, f"Story {n} about lithium", body="Lithium.") for n in range(1, 5)] +
               [make_item(5, EVIL, body="Cobalt output rose.", summary="Cobalt <b>news</b>",
                          promo=promo("promotional", ("OTC:EVIL",), match="paid <i>$5,000</i> by a third party")),
                make_item(6, "Copper prices climb", body="Copper.")])
    set_columns(sessions, ids[4], failure_reason="fetch https://wire.example/news/5: HTTP 404")
    with LiveServer(create_app(sessions, WebConfig(page_size=20), clock=lambda: T0)) as live:
        yield live.base, ids
    engine.dispose()


def test_list_search_item_page_and_untrusted_text(browser, site):
    from selenium.webdriver.common.by import By
    base, ids = site
    browser.get(base + "/")
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#items .item .title")]
    assert len(titles) == 6 and titles[0] == "Copper prices climb"
    assert browser.find_element(By.ID, "count").text == "6 items"

    box = browser.find_element(By.ID, "q")
    box.send_keys("cobalt")
    box.submit()  # a navigation that selenium does not wait for: wait for the results page
    _loaded(browser, lambda url: "q=cobalt" in url)
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#items .item .title")]
    assert titles == [EVIL]  # the <script> shows as text
    assert browser.execute_script("return document.querySelectorAll('script').length") == 0
    assert browser.execute_script("return window.pwned === undefined")

    browser.find_element(By.LINK_TEXT, EVIL).click()
    _loaded(browser, lambda url: url == f"{base}/items/{ids[4]}")
    assert browser.find_element(By.ID, "title").text == EVIL
    assert browser.find_element(By.ID, "label").text == "promotional"
    reasons = browser.find_element(By.ID, "reasons").text
    assert "compensation disclosure" in reasons and "“paid <i>$5,000</i> by a third party”" in reasons
    provenance = browser.find_element(By.ID, "provenance").text
    assert "HTTP 404" in provenance and "feed" in provenance
    assert "Cobalt <b>news</b>" in browser.find_element(By.CSS_SELECTOR, ".lede").text
    assert browser.execute_script("return document.querySelectorAll('script, b, i').length") == 0
    assert browser.execute_script("return window.pwned === undefined")


def _loaded(browser, at) -> None:
    """Wait (at most 15 s) until the browser shows a page whose URL satisfies `at`, fully loaded."""
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 15).until(
        lambda b: at(b.current_url) and b.execute_script("return document.readyState") == "complete")
