"""A real browser on the status and build pages while a real gate runs.

Debian's chromium, driven through chromedriver by selenium, loads the
status page of `gateq serve` (its web service on a free port) and, without
reloading, sees an item move to the head of its queue and land, a failing
item marked with the job that failed, and a build's log grow. It saves the
status page under the test's temporary directory, and as docs/status-page.png
when GATEQ_UPDATE_SCREENSHOT=1 (so a test run leaves the tree as it was).
Not skipped when chromium is missing:
`make test` installs it (.ci/system-packages).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading

import pytest

from gate_fixture import wait_until
from test_web_api import item_of, talking_gate
from test_web_helpers import ServeProcess

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS_SCREENSHOT = os.path.join(HERE, "docs", "status-page.png")


def screenshot_path() -> str:
    if os.environ.get("GATEQ_UPDATE_SCREENSHOT") == "1":
        return DOCS_SCREENSHOT
    return os.path.join(tempfile.mkdtemp(prefix="gateq-screenshot-"), "status-page.png")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Known to work here as root: no sandbox, and nothing reaching for the network.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.access(path, os.X_OK), f"{path} is missing: install chromium and chromium-driver"
    profile = tempfile.mkdtemp(prefix="gateq-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def in_page(driver, script: str):
    return driver.execute_script(script)


def position(driver, ref: str):
    """The item's place in its queue as the page shows it now; None once gone."""
    return in_page(driver, f"""
        const li = document.querySelector('li.item[data-change="nova:{ref}"]');
        return li ? Number(li.dataset.position) : null;""")


def test_the_status_page_follows_the_gate_live(tmp_path, browser):
    g = talking_gate(tmp_path)
    g.change("nova", "fix-0")
    g.approve("nova", "fix-0")
    threading.Timer(3.0, g.release, ["fix-0"]).start()
    g.run()                                         # a first landing: estimates to show
    for ref in ("fix-1", "fix-2", "fix-3"):
        g.change("nova", ref, {"FAIL": "x"} if ref == "fix-2" else None)
        g.approve("nova", ref)
    g.release("fix-2")
    serve = ServeProcess(g, str(tmp_path / "serve.log"))
    try:
        web = serve.client
        browser.get(serve.url + "status")
        in_page(browser, "window.notReloaded = true;")
        wait_until(lambda: position(browser, "fix-3") == 2, "fix-3 third in the page's queue")
        wait_until(lambda: in_page(browser, """
            const li = document.querySelector('li.item[data-change="nova:fix-2"]');
            return li && li.classList.contains('failing') && li.innerText.includes('failed: talk');"""),
            "the page to show fix-2 failing in job talk")
        wait_until(lambda: in_page(browser, """
            const running = [...document.querySelectorAll('tr.state-running td:nth-child(3)')];
            return running.length >= 2 && running.every(td => td.textContent != '0s');"""),
            "two running builds, a second or more into their run", timeout=30)
        assert browser.save_screenshot(screenshot_path())

        g.release("fix-1")                           # fix-1 lands; fix-2 leaves; fix-3 heads
        wait_until(lambda: position(browser, "fix-3") == 0, "fix-3 at the head of the page's queue")
        assert position(browser, "fix-1") is None and position(browser, "fix-2") is None
        assert g.landed() == ["fix-0", "fix-1"]

        build = item_of(web.json("/api/status"), "fix-3")["jobs"][0]["build"]
        status_tab = browser.current_window_handle
        browser.switch_to.new_window("tab")
        browser.get(serve.url + f"builds/{build}")
        in_page(browser, "window.notReloaded = true;")
        shown = in_page(browser, "return document.getElementById('log').textContent.length")
        wait_until(lambda: in_page(browser, "return document.getElementById('log')"
                                   ".textContent.length") > shown + 20, "the build's log to grow")
        g.release("fix-3")
        wait_until(lambda: "tests passed" in in_page(
            browser, "return document.getElementById('log').textContent"), "the log's last line")
        assert in_page(browser, "return window.notReloaded === true")

        browser.switch_to.window(status_tab)
        wait_until(lambda: position(browser, "fix-3") is None, "fix-3 to leave the queue: landed")
        assert in_page(browser, "return window.notReloaded === true")
        assert g.landed() == ["fix-0", "fix-1", "fix-3"]
        assert g.outcome()["fix-2"] == "failed"
    finally:
        serve.stop()
