"""Soak check of the Live page: minutes of fake-camera streaming, server memory sampled.

Starts ``streamlit run app.py`` on a free port (no ICE servers: localhost only), opens the
Live page in headless Chromium whose fake camera plays a y4m clip of a real face
(scikit-image's astronaut), presses START and keeps streaming for ``--minutes``. Every
``--interval`` seconds it prints the resident memory (VmRSS) of the Streamlit server, the
frames analysed so far (from the page's status line), the JavaScript heap of the browser tab
after a forced garbage collection (Chrome DevTools: what the visitor's tab retains) and the
summed resident memory of the Chromium processes (which also counts buffers outside that
heap). At the end it prints the growth of each from the first sample (taken once frames are
flowing) to the last, and over the second half of the run (which leaves out warm-up); the
10 % target concerns the server.

    python benchmarks/live_soak.py [--minutes 10] [--interval 30] [--malloc-arena-max 2]

The server runs with ``MALLOC_ARENA_MAX=2`` as ``make run`` starts it (``--malloc-arena-max
default`` for glibc's own 8 arenas per core, under which the server's memory crept up in a
sawtooth, most likely because memory freed in one thread's arena is not reused by another's).

The model is the shipped one when ``artifacts/pretrained/model.keras`` exists, else an
untrained network of the same architecture (memory does not depend on the weights).
Needs Debian's Chromium at /usr/bin/chromium (or FER_CHROMIUM) and Playwright.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from streamlit_server import CHROMIUM, FAKE_CAMERA, FLAGS, start_server, stop_server  # noqa: E402

FLAGS = FLAGS + FAKE_CAMERA
STATUS = re.compile(r"frames analysed: (\d+)")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def browser_rss_mb() -> float:
    """Summed resident memory (VmRSS) of the Chromium processes this benchmark started, in MB
    (shared pages count once per process: read the trend, not the level)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    mine, grew = {os.getpid()}, True
    while grew:
        new = {pid for pid, pp in parent.items() if pp in mine and pid not in mine}
        mine |= new
        grew = bool(new)
    total = 0.0
    for pid in mine - {os.getpid()}:
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("chrom"):
                total += rss_mb(pid)
        except (OSError, RuntimeError):
            continue
    return total


def js_heap_mb(cdp) -> float:
    """Used JavaScript heap of the page in MB after a forced garbage collection (Chrome
    DevTools Protocol): what the page retains, without the collector's sawtooth."""
    cdp.send("HeapProfiler.collectGarbage")
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize") / 2**20


def frames_so_far(page) -> int | None:
    loc = page.get_by_text(STATUS).first
    if not loc.count():
        return None
    m = STATUS.search(loc.inner_text())
    return int(m.group(1)) if m else None


def summarise(samples: list[tuple], col: int, what: str, fmt: str) -> float:
    """Print the growth of column ``col`` of ``samples`` from the first to the last sample and
    over the second half; return the first -> last growth (a fraction)."""
    first, mid, last = samples[0][col], samples[len(samples) // 2][col], samples[-1][col]
    growth = (last - first) / first
    print(f"{what} growth first -> last sample: {growth:+.1%} ({first:{fmt}} -> {last:{fmt}} MB); "
          f"second half: {(last - mid) / mid:+.1%}")
    return growth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--malloc-arena-max", default="2",
                    help="MALLOC_ARENA_MAX for the server, as `make run` sets it; 'default' = "
                    "glibc's own (8 per core)")
    args = ap.parse_args()
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM}; apt-get install chromium (never "
                         "'playwright install')")
    from live_clips import clip_frames, standin_model, write_y4m
    from playwright.sync_api import sync_playwright

    from fer_engine.models import pretrained

    with tempfile.TemporaryDirectory(prefix="fer-soak-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, FER_ICE_SERVERS="[]", TF_CPP_MIN_LOG_LEVEL="2",
                   FER_RUNS_DIR=str(tmp / "runs"))
        env.pop("FER_HOSTED_DEMO", None)
        env.pop("MALLOC_ARENA_MAX", None)
        if args.malloc_arena_max != "default":
            env["MALLOC_ARENA_MAX"] = args.malloc_arena_max
        if not pretrained.available():
            print("(artifacts/pretrained/model.keras is missing: streaming with an untrained "
                  "network of the same architecture)")
            standin_model().save(tmp / "artifacts" / "pretrained", stem="model")
            env["FER_ARTIFACTS_DIR"] = str(tmp / "artifacts")
        clip = write_y4m(tmp / "clip.y4m", clip_frames(30))
        proc, url = start_server(env, tmp / "server.log", timeout=120)
        print(f"server pid {proc.pid} at {url}; MALLOC_ARENA_MAX {args.malloc_arena_max}; "
              f"RSS at start {rss_mb(proc.pid):.0f} MB; "
              f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        samples: list[tuple[float, float, int | None, float, float]] = []
        try:
            with sync_playwright() as p:
                camera = f"--use-file-for-fake-video-capture={clip}"
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=FLAGS + [camera])
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.set_default_timeout(180_000)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.goto(url)
                nav = page.locator('[data-testid="stSidebarNav"]')
                nav.get_by_role("link", name="Home").wait_for()  # app.py's navigation is up
                nav.get_by_role("link", name="Live", exact=True).click()
                component = page.frame_locator(
                    'iframe[title="streamlit_webrtc.component.webrtc_streamer"]')
                component.get_by_role("button", name="START").click()
                page.get_by_text(STATUS).first.wait_for()
                t0 = time.monotonic()
                end = t0 + args.minutes * 60
                print(f"{'minute':>7s} {'RSS MB':>8s} {'frames':>8s} {'fps':>6s} {'page MB':>8s} "
                      f"{'browser MB':>10s}")
                while True:
                    now = time.monotonic()
                    frames = frames_so_far(page)
                    samples.append((now - t0, rss_mb(proc.pid), frames, js_heap_mb(cdp),
                                    browser_rss_mb()))
                    fps = ""
                    if len(samples) > 1 and frames is not None and samples[-2][2] is not None:
                        fps = f"{(frames - samples[-2][2]) / (now - t0 - samples[-2][0]):6.1f}"
                    print(f"{(now - t0) / 60:7.1f} {samples[-1][1]:8.0f} {frames!s:>8s} {fps:>6s} "
                          f"{samples[-1][3]:8.1f} {samples[-1][4]:10.0f}",
                          flush=True)
                    if now >= end:
                        break
                    page.wait_for_timeout(min(args.interval, max(0.0, end - now)) * 1000)
                component.get_by_role("button", name="STOP").click()
                page.get_by_text("Last session").wait_for()
                time.sleep(2)
                print(f"after STOP: RSS {rss_mb(proc.pid):.0f} MB, page {js_heap_mb(cdp):.1f} MB, "
                      f"browser {browser_rss_mb():.0f} MB")
                browser.close()
        finally:
            stop_server(proc)
    growth = summarise(samples, 1, "RSS", ".0f")
    print(f"Target: server growth under +10% -> {'PASS' if growth < 0.10 else 'FAIL'}")
    summarise(samples, 3, "page JavaScript heap", ".1f")
    summarise(samples, 4, "browser processes", ".0f")
    return 0 if growth < 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
