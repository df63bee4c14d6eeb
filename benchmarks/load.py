"""One dashboard server under load: 6 visitors classify a photo each while a seventh trains.

Starts the server as users do (``make run`` on a free loopback port, temporary runs and
cache folders), then opens 7 separate browser contexts at once (each its own headless
Chromium, driven by Playwright in its own thread): visitors 1-6 open Classify and upload a
photo of a real face (scikit-image's astronaut), visitor 7 starts a 1-epoch hold-out
training of the small CNN on the synthetic demo data and waits until it has finished.
Prints a table: each visitor's seconds and result, the slowest classification, errors
counted, the server process's resident memory before and after, and its CPU use while idle
for 20 s after the load (the idle figure of the server-health check).

    python benchmarks/load.py [--visitors 6] [--idle-s 20]

Needs Playwright and Debian's Chromium (/usr/bin/chromium or FER_CHROMIUM), as the browser
tests do. Everything listens on and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from streamlit_server import (  # noqa: E402
    CHROMIUM, FLAGS, cpu_seconds, start_server, stop_server, streamlit_pid, wait_idle)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def visitor(url: str, index: int, photo: Path, results: list, start: threading.Event) -> None:
    from playwright.sync_api import sync_playwright

    name = f"visitor {index}"
    action = "train (cnn, hold-out, 1 epoch)" if photo is None else "classify a photo"
    t0 = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            start.wait()
            t0 = time.monotonic()
            if photo is None:
                page.goto(f"{url}/Train")
                page.get_by_text("Start training").first.wait_for(timeout=120_000)
                wait_idle(page)
                for label, option in (("Model", "Small CNN"), ("Evaluation protocol", "Hold-out")):
                    page.get_by_role("combobox", name=label).click()
                    page.get_by_role("option", name=option).first.click()
                    page.wait_for_timeout(300)
                epochs = page.get_by_role("spinbutton", name="Epochs (maximum)")
                epochs.fill("1")
                epochs.press("Enter")
                wait_idle(page)
                page.get_by_role("button", name="Start training").click()
                page.get_by_text("Finished: run", exact=False).wait_for(timeout=600_000)
            else:
                page.goto(f"{url}/Classify")
                page.get_by_text("never written to disk").wait_for(timeout=120_000)
                page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                    str(photo))
                page.get_by_text("1 face", exact=False).first.wait_for(timeout=300_000)
                page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            errors = page.locator('[data-testid="stException"]').count()
            seconds = time.monotonic() - t0
            results.append((name, action, seconds, "error on page" if errors else "ok"))
            browser.close()
    except Exception as exc:  # noqa: BLE001 - counted in the table
        seconds = time.monotonic() - t0 if t0 else float("nan")
        results.append((name, action, seconds, f"{type(exc).__name__}: {str(exc)[:80]}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=6)
    parser.add_argument("--idle-s", type=float, default=20.0)
    args = parser.parse_args()

    import cv2
    from live_clips import astronaut
    from pages_support import shared_cache

    tmp = Path(tempfile.mkdtemp(prefix="fer-load-"))
    photo = tmp / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    env = dict(os.environ, FER_CACHE_DIR=str(shared_cache()), FER_RUNS_DIR=str(tmp / "runs"),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc, url = start_server(env, tmp / "server.log")
    try:
        pid = streamlit_pid(proc.pid)
        before = rss_mib(pid)
        results: list = []
        go = threading.Event()
        threads = [threading.Thread(target=visitor, args=(url, i + 1, photo, results, go))
                   for i in range(args.visitors)]
        threads.append(threading.Thread(target=visitor,
                                        args=(url, args.visitors + 1, None, results, go)))
        for t in threads:
            t.start()
        time.sleep(8)  # the browsers are up; then everyone starts at once
        go.set()
        for t in threads:
            t.join()
        after = rss_mib(pid)
        time.sleep(2)
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(args.idle_s)
        idle = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    results.sort(key=lambda r: int(r[0].split()[1]))
    head = ("visitor", "action", "seconds", "result")
    rows = [(n, a, f"{s:.1f}", r) for n, a, s, r in results]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    classify = [s for _, a, s, r in results if a.startswith("classify") and r == "ok"]
    errors = sum(r != "ok" for *_, r in results)
    print(f"\nslowest classification {max(classify, default=float('nan')):.1f} s of "
          f"{len(classify)} ok; errors {errors}; server memory {before:.0f} MiB before, "
          f"{after:.0f} MiB after; idle CPU {idle:.1%} of a core over {args.idle_s:.0f} s; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
