"""Start and stop a real `streamlit run app.py` server on a free port; Chromium's flags.

Shared by the browser tests (tests/browser/conftest.py) and benchmarks/live_soak.py.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("FER_CHROMIUM", "/usr/bin/chromium")
#: headless Chromium without network chatter; add FAKE_CAMERA for the Live page
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def wait_idle(page, quiet_s: float = 0.5, timeout_s: float = 90.0) -> None:
    """Wait until the Streamlit script has not been running (no status widget) for ``quiet_s``
    seconds on end, polled every 0.1 s. One action can set off several reruns in a row (the
    Live page's STOP does): a button clicked between them belongs to a run that the next
    one replaces, and a download button's file id is revoked with it."""
    busy = "() => !!document.querySelector('[data-testid=\"stStatusWidget\"]')"
    start = quiet_from = time.monotonic()
    while time.monotonic() - quiet_from < quiet_s:
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"the page was still running after {timeout_s:.0f} s")
        if page.evaluate(busy):
            quiet_from = time.monotonic()
        page.wait_for_timeout(100)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, log_path: Path, timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """``(process, url)`` once ``/_stcore/health`` answers; RuntimeError (with the log's tail)
    if the server exits or does not answer within ``timeout`` seconds.

    The server is started as users start it, by ``make run`` (on a free loopback port, with
    this interpreter), so it reads the repository's ``.streamlit/config.toml`` as theirs does.
    It runs in its own session, so :func:`stop_server` also stops trainings it started."""
    port = free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", "ADDRESS=127.0.0.1",
         f"PY={sys.executable}"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()  # the child keeps its own handle
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"streamlit did not start: {Path(log_path).read_text()[-2000:]}")
        time.sleep(0.5)


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def classify_and_explain(page, photo) -> None:
    """On the open Classify page: upload ``photo``, wait for its face and bars, switch on
    *Explain a face* and wait for the maps' faithfulness lines."""
    page.get_by_text("never written to disk").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    page.get_by_text("1 face", exact=False).first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    page.get_by_text("Explain a face").click()
    page.get_by_text("Deletion area", exact=False).wait_for()


# --------------------------------------------------------------------------- page helpers


def settle(page, text: str, timeout: float = 90_000) -> None:
    """Wait until ``text`` is shown and the script has stopped running."""
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    wait_idle(page, timeout_s=timeout / 1000)


def assert_no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, (
        page.locator('[data-testid="stAlertContentError"]').first.inner_text())


def wait_for_charts(page, n: int = 1, timeout: float = 60_000) -> None:
    """Wait until at least ``n`` plotly charts are drawn with their data: Streamlit loads
    plotly.js on first use, so on a cold server charts appear after the script has ended."""
    page.wait_for_function(
        """n => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .filter(p => (p.data || []).length > 0).length >= n""", arg=n, timeout=timeout)


def go(page, name: str) -> None:
    """Navigate with the sidebar link (keeps the browser session, unlike a new URL) and wait
    until the address names the page: text a test waits for next may also stand in the sidebar
    of the page being left (a running training's label), so arriving must not be guessed from it."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name).click()
    path = "" if name == "Home" else name  # Home is the app's root address
    page.wait_for_url(re.compile(rf"/{path}(\?|$)"))


def select_option(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    page.wait_for_timeout(300)


# --------------------------------------------------------------------------- the server process


def streamlit_pid(group: int) -> int:
    """The pid of the ``streamlit run`` process in process group ``group`` (``make run``'s)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pgrp = int(stat.rsplit(")", 1)[1].split()[2])
        if pgrp == group and b"streamlit" in cmdline and b"run" in cmdline:
            return int(entry.name)
    raise LookupError(f"no streamlit process in process group {group}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inotify_watches(pid: int) -> int:
    """How many inotify watches the process holds (lines ``inotify wd:`` of its fdinfo)."""
    total = 0
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            total += sum(line.startswith("inotify wd:") for line in info.read_text().splitlines())
        except OSError:
            continue
    return total
