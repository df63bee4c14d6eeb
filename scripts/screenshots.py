"""Regenerate the README's pictures (docs/images/*.png) from the running dashboard.

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--epochs 3] [--width 1400]
    make screenshots

What it does, with nothing of yours touched (temporary FER_RUNS_DIR and FER_CACHE_DIR):
1. draws the synthetic demo dataset and trains a short `cnn` run on it through the engine
   (``run_experiment``, grouped 5-fold, ``--epochs`` epochs), so the Results page has a run;
2. starts ``streamlit run app.py`` headless on a free port (tests/streamlit_server.py);
3. drives Debian's Chromium (``/usr/bin/chromium`` or ``FER_CHROMIUM``) through Playwright:
   the Results page of that run, then the Classify page with scikit-image's astronaut photo,
   the shipped model (``artifacts/pretrained/``) and the explanations switched on;
4. writes ``results.png`` and ``classify.png`` at ``--width`` pixels wide, reduced to a
   256-colour palette with Pillow when that keeps them smaller.

Needs requirements-dev.txt (playwright) and the chromium package; never `playwright install`.
A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from streamlit_server import (  # noqa: E402
    CHROMIUM,
    FLAGS,
    classify_and_explain,
    start_server,
    stop_server,
    wait_idle,
)

#: A picture for the README should stay under this size (bytes); larger ones are reported.
MAX_BYTES = 400 * 1024


def train_run(runs: Path, epochs: int) -> Path:
    """A short cnn run on the default synthetic data, written under ``runs``."""
    from fer_engine.experiments.spec import ExperimentSpec
    from fer_engine.experiments.training import run_experiment

    spec = ExperimentSpec(model="cnn", protocol="group-kfold", k=5, epochs=epochs, seed=0)
    return run_experiment(None, spec, out_dir=runs)


def astronaut_jpeg(path: Path) -> Path:
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(path, quality=90)
    return path


def save_png(png: bytes, path: Path) -> int:
    """Write ``png``; if a 256-colour palette version is smaller, write that. Returns bytes."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
    best = min(png, buf.getvalue(), key=len)
    path.write_bytes(best)
    return len(best)


def open_page(browser, url: str, name: str, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(url)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Home").wait_for()  # app.py's own navigation, not pages/
    nav.get_by_role("link", name=name, exact=True).click()
    return context, page


def images_decoded(page) -> None:
    page.wait_for_function("""() =>
        [...document.querySelectorAll('[data-testid="stImage"] img')]
        .every(i => i.complete && i.naturalWidth > 0)""", timeout=60_000)


def shot_down_to(page, locators, width: int, margin: int = 24) -> bytes:
    """A screenshot of the page from the top down to ``margin`` pixels below the lowest of
    ``locators`` (the viewport must be tall enough: Streamlit scrolls inside its own
    container, so a full-page screenshot shows the viewport only)."""
    height = page.viewport_size["height"]
    boxes = [b for b in (loc.bounding_box() for loc in locators) if b]
    bottom = max((b["y"] + b["height"] for b in boxes), default=height) + margin
    return page.screenshot(clip={"x": 0, "y": 0, "width": width,
                                 "height": min(height, int(bottom))})


def no_errors(page, what: str) -> None:
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError(f"the {what} page shows an error: "
                           + page.locator('[data-testid="stException"]').first.inner_text())


def shoot_results(browser, url: str, width: int, out: Path) -> int:
    context, page = open_page(browser, url, "Results", width, 1800)
    try:
        page.get_by_text("Downloads").first.wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        wait_idle(page, quiet_s=2.0, timeout_s=180)
        page.wait_for_timeout(1500)  # let the charts finish their transitions
        no_errors(page, "Results")
        # down to the confusion matrix's and the per-emotion chart's captions
        ends = [page.get_by_text(t, exact=False).first
                for t in ("Rows: the true emotion", "Overlapping whiskers")]
        return save_png(shot_down_to(page, ends, width), out / "results.png")
    finally:
        context.close()


def shoot_classify(browser, url: str, width: int, out: Path, photo: Path) -> int:
    context, page = open_page(browser, url, "Classify", width, 3200)
    try:
        classify_and_explain(page, photo)
        page.get_by_text("Method agreement", exact=False).wait_for()
        wait_idle(page, quiet_s=2.0, timeout_s=180)
        images_decoded(page)
        page.wait_for_timeout(1000)
        no_errors(page, "Classify")
        # down to the faithfulness figures under the maps
        end = page.get_by_text("Method agreement", exact=False).first
        return save_png(shot_down_to(page, [end], width), out / "classify.png")
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per fold of the short run")
    ap.add_argument("--width", type=int, default=1400, help="browser width in pixels")
    args = ap.parse_args(argv)
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        print(f"No Chromium at {CHROMIUM}: apt-get install chromium, or set FER_CHROMIUM.")
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="fer-screenshots-"))
    runs, cache = tmp / "runs", tmp / "cache"
    runs.mkdir()
    cache.mkdir()
    # the engine in this process and the server both use the temporary folders
    os.environ.update(FER_RUNS_DIR=str(runs), FER_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="2")
    os.environ.pop("FER_HOSTED_DEMO", None)
    proc = None
    try:
        print(f"training a {args.epochs}-epoch cnn run on the synthetic data...", flush=True)
        print("  run:", train_run(runs, args.epochs).name, flush=True)
        photo = astronaut_jpeg(tmp / "astronaut.jpg")
        proc, url = start_server(dict(os.environ), tmp / "server.log", timeout=180)
        print("server:", url, flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            try:
                for name, shoot in (("results.png", lambda: shoot_results(
                                        browser, url, args.width, args.out)),
                                    ("classify.png", lambda: shoot_classify(
                                        browser, url, args.width, args.out, photo))):
                    size = shoot()
                    big = "  (over 400 KB: narrower --width?)" if size > MAX_BYTES else ""
                    print(f"  {args.out / name}: {size / 1024:.0f} KB{big}", flush=True)
            finally:
                browser.close()
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
