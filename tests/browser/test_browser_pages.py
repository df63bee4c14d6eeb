"""The dashboard in a real browser: every page loads without an error element, a zip dataset is
uploaded and a short training runs from the UI. Screenshots go to <test output>/browser/."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from pages_support import small_dataset, zip_folder
from streamlit_server import (assert_no_errors, cpu_seconds, go, inotify_watches, select_option,
                              settle, streamlit_pid, wait_for_charts)

pytestmark = pytest.mark.browser

PAGES = {"Home": ("", "research dashboard"), "Dataset": ("Dataset", "Validation"),
         "Train": ("Train", "Finished runs"), "Results": ("Results", "Results")}


def test_every_page_loads_without_an_error(server, page, shots):
    for name, (path, text) in PAGES.items():
        page.goto(f"{server['url']}/{path}")
        settle(page, text)
        assert_no_errors(page)
        if name == "Dataset":
            wait_for_charts(page)
        page.screenshot(path=str(shots / f"{name.lower()}.png"), full_page=True)
        if name == "Dataset":
            for tab in ("Demographics", "Sample faces"):
                page.get_by_role("tab", name=tab).click()
                page.wait_for_timeout(1000)
                page.screenshot(path=str(shots / f"dataset_{tab.split()[-1].lower()}.png"),
                                full_page=True)
            assert page.locator('[data-testid="stImage"] img').count() >= 8 + 3
    assert page.locator('[data-testid="stSidebarNav"]').get_by_role("link").count() >= 4


def test_no_request_leaves_the_server_and_the_idle_server_rests(server, page):
    """Every page asks only the dashboard's own address (no icon, font or script from an
    outside host), and the server started as ``make run`` starts it watches no files and uses
    next to no CPU while nobody does anything."""
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(server["url"])
    settle(page, "research dashboard")
    for name in ("Dataset", "Train", "Results", "Classify", "Live", "Session"):
        go(page, name)
        page.wait_for_timeout(1500)
        page.wait_for_load_state("networkidle")
    hosts = {urlsplit(u).hostname for u in asked if urlsplit(u).scheme in ("http", "https", "ws",
                                                                            "wss")}
    assert hosts == {"127.0.0.1"}, sorted(u for u in asked if "127.0.0.1" not in u)[:10]

    pid = streamlit_pid(server["group"])
    assert inotify_watches(pid) == 0
    page.close()  # no browser session keeps a script running
    time.sleep(3)
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(10)
    share = (cpu_seconds(pid) - before) / (time.monotonic() - t0)
    assert share < 0.05, f"the idle server used {share:.0%} of a core"
    log = server["log"].read_text(errors="replace")
    assert "Inotify" not in log and "reconciling" not in log, log[-2000:]


def test_upload_a_zip_and_train_from_the_ui(server, page, shots, tmp_path):
    archive = tmp_path / "tapakah68.zip"
    archive.write_bytes(zip_folder(small_dataset(server["cache"]), prefix="tapakah68"))
    page.goto(server["url"])
    settle(page, "research dashboard")
    go(page, "Dataset")
    settle(page, "Validation")
    page.get_by_text("Upload a .zip").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(archive))
    settle(page, "4 participants, seed 0")
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "32"
    # the sidebar, drawn before the page body, names the new dataset too
    assert "4 participants" in page.locator('[data-testid="stSidebar"]').inner_text()
    assert_no_errors(page)
    page.screenshot(path=str(shots / "dataset_uploaded.png"), full_page=True)

    go(page, "Train")
    settle(page, "Start training")
    assert "32 images of 4 participants" in page.inner_text("body")
    # a dataset this small opens on the transfer model (recommended below 1,000 images)
    advice = page.get_by_text("Recommended for 32 images").inner_text()
    assert advice.startswith("Recommended for 32 images of 4 people: Transfer"), advice
    assert "under Leave-one-subject-out" in advice, advice
    select_option(page, "Model", "Small CNN")
    select_option(page, "Evaluation protocol", "Hold-out")
    epochs = page.get_by_role("spinbutton", name="Epochs (maximum)")
    epochs.fill("1")
    epochs.press("Enter")
    select_option(page, "Batch size", "8")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("cnn / holdout on synthetic demo data", exact=False).first.wait_for()
    # the job lives in the server: it survives a page change and a browser reload
    go(page, "Results")
    settle(page, "Results")
    go(page, "Train")
    page.get_by_text("cnn / holdout on synthetic demo data", exact=False).first.wait_for()
    page.wait_for_url("**job=*")  # the job is in the address, so a reload finds it again
    page.reload()
    page.get_by_text("Finished: run", exact=False).wait_for(timeout=240_000)
    settle(page, "Finished runs")
    assert_no_errors(page)
    wait_for_charts(page, 1)  # the live curves
    page.screenshot(path=str(shots / "train_finished.png"), full_page=True)
    assert len(list(server["runs"].glob("*-cnn-holdout-*"))) == 1

    page.get_by_role("button", name="Use as active model and open Results").click()
    settle(page, "Downloads", timeout=120_000)
    assert_no_errors(page)
    wait_for_charts(page, 6)
    assert "Synthetic demo data" in page.inner_text("body")
    page.screenshot(path=str(shots / "results.png"), full_page=True)
    go(page, "Home")
    settle(page, "Active model")
    assert "cnn / holdout" in page.inner_text("body")
    page.screenshot(path=str(shots / "home_after_training.png"), full_page=True)
