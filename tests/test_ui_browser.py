"""The dashboard in a real browser (Debian's chromium, driven by Selenium).

A separate process runs the workflows (``uiapps/browser_app.py``), as an
application would; the test clicks through the dashboard like a user:
filters the runs page, watches a node of a running run change colour,
cancels it, retries a failed run and sees it complete, opens a step run's
timeline and sends it an event. Screenshots go to the test's directory.

Needs the ``chromium`` and ``chromium-driver`` Debian packages (found on
PATH, or at the Debian paths); without them the tests are skipped, except
under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import taskloom as cloaca
from taskloom.ui.server import running

APP = Path(__file__).resolve().parent / "uiapps" / "browser_app.py"


def _find(names: tuple[str, ...], paths: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in paths if os.access(p, os.X_OK)), None)


def browser_paths() -> tuple[str, str] | None:
    browser = _find(
        ("chromium", "chromium-browser", "google-chrome"),
        ("/usr/bin/chromium", "/usr/lib/chromium/chromium"),
    )
    driver = _find(("chromedriver",), ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"))
    return (browser, driver) if browser and driver else None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    paths = browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        paths = None
    if paths is None:
        message = "needs chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=paths[1]))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def app_runs(db_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """The workflows' process, and the ids of the runs it started."""
    gates = tmp_path / "gates"
    gates.mkdir()
    proc = subprocess.Popen([sys.executable, str(APP), db_url, str(gates)])
    try:
        deadline = time.monotonic() + 60
        while not (gates / "runs.json").exists():
            assert proc.poll() is None, "the app process died"
            assert time.monotonic() < deadline, "the app process did not start its runs"
            time.sleep(0.05)
        yield json.loads((gates / "runs.json").read_text()), gates
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(check: Callable[[], object], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # the element is being replaced by a live update
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def node_class(driver: Any, task: str) -> str:
    from selenium.webdriver.common.by import By

    node = driver.find_element(By.CSS_SELECTOR, f'#graph g[data-task="{task}"]')
    return str(node.get_attribute("class"))


def test_a_user_filters_watches_cancels_retries_and_reads_a_timeline(
    browser: Any, app_runs: tuple[dict[str, str], Path], db_url: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    runs, gates = app_runs
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with running(db_url, port=0) as (url, _server):
        # -- the runs page, live: a run started now appears without a reload
        browser.get(url + "runs")
        assert browser.find_element(By.ID, "runs-table")
        browser.execute_script("window.notReloaded = true")
        with cloaca.WorkflowBuilder("quick") as quick:
            quick.description("one task")

            @cloaca.task(id="only")
            def only(ctx: cloaca.Context) -> cloaca.Context:
                return ctx

        with cloaca.DefaultRunner(db_url) as runner:
            quick_id = runner.execute("quick", cloaca.Context()).run_id
        wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, f'tr[data-run="{quick_id}"]'),
            "the new run on the runs page",
            timeout=20,
        )
        assert browser.execute_script("return window.notReloaded") is True
        browser.save_screenshot(str(shots / "runs.png"))

        # -- filter: failed runs only
        Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("Failed")
        browser.find_element(By.ID, "apply").click()
        wait_until(lambda: "status=Failed" in browser.current_url, "the filtered page")
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs-body tr[data-run]")
        assert [r.get_attribute("data-run") for r in rows] == [runs["flaky"]]
        assert "<b>database</b>" in rows[0].text  # hostile text shown as text
        browser.save_screenshot(str(shots / "runs-failed.png"))

        # -- a running run: node b runs, then turns green when its gate opens
        browser.get(url + "runs")
        browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{runs["gated"]}"] a').click()
        wait_until(lambda: "st-Running" in node_class(browser, "b"), "b running")
        assert "st-Completed" in node_class(browser, "a")
        # The edges come from the graph the run's workflow version recorded.
        assert len(browser.find_elements(By.CSS_SELECTOR, "#graph path.edge")) == 2
        browser.execute_script("window.notReloaded = true")
        (gates / "open-b").touch()
        wait_until(lambda: "st-Completed" in node_class(browser, "b"), "b completed", 20)
        row = browser.find_element(By.CSS_SELECTOR, '#tasks tr[data-task="b"] .badge')
        wait_until(lambda: row.text == "Completed", "b's row completed", 20)
        wait_until(lambda: "st-Running" in node_class(browser, "c"), "c running", 20)
        assert browser.execute_script("return window.notReloaded") is True
        browser.save_screenshot(str(shots / "run-live.png"))

        # -- cancel it
        browser.find_element(By.ID, "cancel").click()
        wait_until(
            lambda: browser.find_element(By.ID, "run-status").text == "Cancelled",
            "the run cancelled",
        )
        browser.save_screenshot(str(shots / "run-cancelled.png"))

        # -- retry the failed run once its cause is fixed; it completes
        (gates / "fixed").touch()
        browser.get(url + "runs/" + runs["flaky"])
        assert "st-Failed" in node_class(browser, "store")
        browser.find_element(By.ID, "retry").click()
        wait_until(
            lambda: browser.find_element(By.ID, "run-status").text == "Completed",
            "the retried run completed",
            timeout=30,
        )
        assert "st-Completed" in node_class(browser, "store")
        browser.save_screenshot(str(shots / "run-retried.png"))

        # -- a step run: its timeline, then an event sent from the page
        browser.get(url + "runs/" + runs["steps"])
        browser.find_element(By.ID, "tab-timeline").click()
        bars = wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#timeline .tl-bar"), "timeline bars"
        )
        # The driver node's attempts, and its deferral while it waits for the event.
        assert {b.get_attribute("data-kind") for b in bars} >= {"attempt", "deferred"}
        names = [n.text for n in browser.find_elements(By.CSS_SELECTOR, "#timeline .tl-name")]
        assert any("reserve" in n for n in names) and any("start" in n for n in names)
        browser.save_screenshot(str(shots / "steps-timeline.png"))
        browser.find_element(By.ID, "event-name").send_keys("approve")
        browser.find_element(By.ID, "event-payload").send_keys('{"by": "ann"}')
        browser.find_element(By.ID, "send-event").click()
        wait_until(
            lambda: browser.find_element(By.ID, "run-status").text == "Completed",
            "the step run completed",
            timeout=30,
        )
        browser.find_element(By.ID, "tab-io").click()
        assert '"by": "ann"' in browser.find_element(By.ID, "run-result").text
        browser.save_screenshot(str(shots / "steps-done.png"))
    assert len(list(shots.glob("*.png"))) == 7


def test_a_task_detail_opens_from_the_graph_and_masks_secrets(
    browser: Any, app_runs: tuple[dict[str, str], Path], db_url: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    runs, _gates = app_runs
    with running(db_url, port=0) as (url, _server):
        browser.get(url + "runs/" + runs["flaky"])
        browser.find_element(By.CSS_SELECTOR, '#graph g[data-task="store"]').click()
        detail = wait_until(lambda: browser.find_element(By.ID, "d-error").text, "the task's error")
        assert "ConnectionError: <b>database</b> unreachable" in detail
        assert "Traceback" in browser.find_element(By.ID, "d-traceback").text
        browser.get(url + "runs/" + runs["gated"])
        browser.find_element(By.ID, "tab-io").click()
        text = browser.find_element(By.ID, "run-input").text
        assert '"api_key": "***"' in text and "k-1" not in text
        browser.save_screenshot(str(tmp_path / "task-detail.png"))
