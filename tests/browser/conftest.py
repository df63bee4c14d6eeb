"""Browser tests: a real `streamlit run app.py` server and Debian's Chromium driven by Playwright.

The server runs on a free port with temporary FER_RUNS_DIR / FER_CACHE_DIR and is stopped at
the end. Everything here skips, with the reason, when Playwright or Chromium is missing
(never `playwright install`: it downloads a browser).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Seconds per run of the Live page's redraw loop on the test server (FER_LIVE_RUN_S): short,
#: so that a test stream spans several runs.
LIVE_RUN_S = 6
sys.path.insert(0, str(REPO / "tests"))

from streamlit_server import CHROMIUM, FLAGS, start_server, stop_server  # noqa: E402


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -r requirements-dev.txt)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FER_CHROMIUM)")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(chromium):
    """URL of a fresh dashboard server (temporary runs folder; shared synthetic data cache)."""
    from pages_support import shared_cache

    cache = shared_cache()
    runs = Path(tempfile.mkdtemp(prefix="fer-browser-runs-"))
    env = dict(os.environ, FER_CACHE_DIR=str(cache), FER_RUNS_DIR=str(runs),
               TF_CPP_MIN_LOG_LEVEL="2", FER_LIVE_RUN_S=str(LIVE_RUN_S))
    env.pop("FER_HOSTED_DEMO", None)
    log = runs.parent / f"{runs.name}-server.log"
    try:
        proc, url = start_server(env, log)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield {"url": url, "runs": runs, "cache": cache, "live_run_s": LIVE_RUN_S, "log": log,
           "group": proc.pid}
    stop_server(proc)  # the server and any training it started
    shutil.rmtree(runs, ignore_errors=True)
    log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    # Streamlit scrolls inside its own container, so a tall window is what shows a whole page.
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def shots(test_output) -> Path:
    folder = test_output / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
