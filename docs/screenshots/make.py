"""Make the screenshots of docs/ui.md: a demo journal, the dashboard, Debian's chromium.

Usage (needs the ``chromium`` and ``chromium-driver`` packages and the ``dev`` extra)::

    python docs/screenshots/make.py            # writes docs/screenshots/*.png

It records runs of the three styles in a fresh SQLite journal (one of them
kept running), serves the dashboard on it, and saves what a browser shows.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

import taskloom as cloaca
from taskloom import fan_out, flow, task
from taskloom.journal.urls import open_journal
from taskloom.steps import Client, Context, Directive, Workflow
from taskloom.ui.server import running

HERE = Path(__file__).resolve().parent
gate = threading.Event()


def define() -> None:
    with cloaca.WorkflowBuilder("nightly_etl") as etl:
        etl.description("extract, clean, load, report")

        @cloaca.task(id="extract_orders")
        def extract_orders(ctx: cloaca.Context) -> cloaca.Context:
            ctx.set("orders", 1200)
            ctx.set("db_password", "hunter2")
            return ctx

        @cloaca.task(id="extract_users")
        def extract_users(ctx: cloaca.Context) -> cloaca.Context:
            return ctx

        @cloaca.task(id="clean", dependencies=["extract_orders", "extract_users"])
        def clean(ctx: cloaca.Context) -> cloaca.Context:
            return ctx

        @cloaca.task(id="load", dependencies=["clean"], retry_attempts=2, retry_delay_ms=300)
        def load(ctx: cloaca.Context) -> cloaca.Context:
            if ctx.get("fail"):
                raise ConnectionError("warehouse refused the connection")
            gate.wait(60)
            return ctx

        @cloaca.task(id="report", dependencies=["load", "extract_users"])
        def report(ctx: cloaca.Context) -> cloaca.Context:
            return ctx


@task
def list_ids(n: int) -> list[int]:
    return list(range(n))


@task
def score(i: int) -> int:
    return i * i


@task
def total(values: list[int]) -> int:
    return sum(values)


@flow
def scoring(n: int) -> int:
    return total(fan_out(score, list_ids(n)))


approval = Workflow(workflow_type="Approval")


@task
async def reserve(order: str) -> str:
    await asyncio.sleep(0.05)
    return f"reserved {order}"


@approval.start()
async def start(ctx: Context, order: str) -> Directive:
    ctx.store.put("note", await reserve(order))
    return ctx.next.wait()


@approval.event("approve")
async def approve(ctx: Context, by: str) -> Directive:
    return ctx.next.complete({"by": by})


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    sys.path.insert(0, str(HERE.parent.parent / "tests"))
    from test_ui_browser import browser_paths

    paths = browser_paths()
    if paths is None:
        raise SystemExit("install chromium and chromium-driver (apt-get install ...)")
    define()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/demo.db"
        with cloaca.DefaultRunner(db) as runner:
            runner.execute("nightly_etl", cloaca.Context({"fail": True}))
            gate.set()
            for _ in range(3):
                runner.execute("nightly_etl", cloaca.Context())
            scoring.run(40, db=db)
            client = Client(db)
            client.start_workflow("Approval", "order-7", {"order": "o-7"})
            gate.clear()
            live = runner.start("nightly_etl", cloaca.Context({"api_key": "k-1"}))
            journal = open_journal(db)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                t.status == "Running" for t in journal.get_tasks(live.run_id)
            ):
                time.sleep(0.05)
            journal.close()
            options = webdriver.ChromeOptions()
            options.binary_location = paths[0]
            for arg in (
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--window-size=1280,860",
                f"--user-data-dir={tmp}/profile",
            ):
                options.add_argument(arg)
            driver = webdriver.Chrome(options=options, service=Service(executable_path=paths[1]))
            try:
                with running(db, port=0) as (url, _server):
                    shots = {
                        "runs.png": "runs",
                        "run-dag.png": f"runs/{live.run_id}",
                        "workflows.png": "workflows?name=nightly_etl",
                        "workers.png": "workers",
                    }
                    for name, path in shots.items():
                        driver.get(url + path)
                        time.sleep(0.3)
                        driver.save_screenshot(str(HERE / name))
                    flow_run = driver.execute_script(
                        "return fetch('/api/runs?style=flow').then(r => r.json())"
                    )["runs"][0]["run_id"]
                    driver.get(url + f"runs/{flow_run}")
                    driver.save_screenshot(str(HERE / "run-flow.png"))
                    driver.get(url + "runs/order-7")
                    driver.find_element(By.ID, "tab-timeline").click()
                    time.sleep(0.5)
                    driver.save_screenshot(str(HERE / "run-steps-timeline.png"))
                    failed = driver.execute_script(
                        "return fetch('/api/runs?status=Failed').then(r => r.json())"
                    )["runs"][0]["run_id"]
                    driver.set_window_size(1280, 1250)
                    driver.get(url + f"runs/{failed}")
                    driver.find_element(By.CSS_SELECTOR, '#graph g[data-task="load"]').click()
                    time.sleep(0.5)
                    driver.execute_script("document.querySelector('#run-error').scrollIntoView()")
                    driver.save_screenshot(str(HERE / "run-failed-detail.png"))
            finally:
                driver.quit()
                gate.set()
    print("wrote", ", ".join(sorted(p.name for p in HERE.glob("*.png"))))


if __name__ == "__main__":
    main()
