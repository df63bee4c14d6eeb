"""Live and Classify pages in headless Chromium against a real server (fixtures in conftest.py).

Live: Chromium's fake camera plays a y4m clip of a real face (scikit-image's astronaut); the
stream runs with no ICE server (``FER_ICE_SERVERS='[]'``, localhost only). We check that the
video coming back carries the green face box around the face, that the status line reports
a face and a growing number of analysed frames, that the timeline chart is drawn, and that
STOP leaves the session summary with its CSV download. Classify: upload a photo, see the
boxes and bars, switch the explanations on and see the four overlays and the faithfulness
lines. Screenshots: ``<test output>/browser/live_*.png``, ``classify_*.png``.

The server uses an untrained network of the shipped architecture saved into a temporary
artifacts folder, so these tests do not need ``artifacts/pretrained``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit_server import FAKE_CAMERA, FLAGS, classify_and_explain, wait_idle
from live_clips import LABELS, astronaut, clip_frames, jpeg_bytes, standin_model, write_y4m

pytestmark = pytest.mark.browser

CAMERA_FLAGS = FLAGS + FAKE_CAMERA
STATUS = re.compile(r"frames analysed: (\d+) · faces in the last frame: (\d+)")
#: The status line when the last frame had a face: its count, label and probability.
WITH_FACE = re.compile(r"frames analysed: (\d+) · faces in the last frame: 1 · ([a-z]+) (\d+)%")


@pytest.fixture(scope="module", autouse=True)
def standin_artifacts(tmp_path_factory):
    """Runs before the conftest's module-scoped ``server``, which inherits this environment."""
    root = tmp_path_factory.mktemp("artifacts")
    standin_model().save(root / "pretrained", stem="model")
    mp = pytest.MonkeyPatch()
    mp.setenv("FER_ARTIFACTS_DIR", str(root))
    mp.setenv("FER_ICE_SERVERS", "[]")  # no STUN/TURN: nothing outside this machine
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def camera_browser(chromium, tmp_path_factory):
    """Chromium whose fake camera plays a 640x480 y4m clip of the astronaut's face."""
    from playwright.sync_api import sync_playwright

    clip = write_y4m(tmp_path_factory.mktemp("camera") / "clip.y4m", clip_frames(30))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True,
                              args=CAMERA_FLAGS + [f"--use-file-for-fake-video-capture={clip}"])
        yield b
        b.close()


def open_page(browser, server, name: str, height: int = 1400):
    # (Streamlit scrolls inside its own container, so a full-page screenshot shows the
    # viewport only: make it tall enough for what the screenshot must show)
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(server["url"])
    nav = page.locator('[data-testid="stSidebarNav"]')
    # wait for app.py's own navigation (its Home page) before following a link: the first
    # paint can show Streamlit's automatic pages/ list, which runs a page without app.py
    nav.get_by_role("link", name="Home").wait_for()
    nav.get_by_role("link", name=name, exact=True).click()
    return context, page


def faced(page) -> int | None:
    """Frames analysed so far if the last frame had a face with a label, else None."""
    m = WITH_FACE.search(page.get_by_text(STATUS).first.inner_text())
    if m is None:
        return None
    assert m.group(2) in LABELS and 0 <= int(m.group(3)) <= 100
    return int(m.group(1))


def poll(page, check, what: str, timeout_s: float = 60.0):
    """The first truthy value of ``check()``, tried every half second."""
    for _ in range(int(timeout_s * 2)):
        value = check()
        if value:
            return value
        page.wait_for_timeout(500)
    shown = page.get_by_text(STATUS).first.inner_text()
    raise AssertionError(f"timed out waiting for {what}: {shown}")


def green_box(png: bytes) -> tuple[int, tuple[float, float]]:
    """Pixels of the pipeline's pure-green box colour after video compression, and their
    centre as fractions of the width and height."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    mask = (img[..., 1] > 180) & (img[..., 0] < 100) & (img[..., 2] < 100)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return 0, (float("nan"), float("nan"))
    return int(mask.sum()), (xs.mean() / img.shape[1], ys.mean() / img.shape[0])


def test_live_stream_comes_back_with_box_and_label_and_the_timeline_grows(
        camera_browser, server, shots):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # the clip itself has no pixel of the box colour, so any found come from the pipeline
    assert max(green_box(jpeg_bytes(f, 95))[0] for f in clip_frames(30)[::5]) == 0
    context, page = open_page(camera_browser, server, "Live")
    try:
        component = page.frame_locator('iframe[title="streamlit_webrtc.component.webrtc_streamer"]')
        component.get_by_role("button", name="START").click()
        page.get_by_text(STATUS).first.wait_for()
        # a frame or two without a detected face can happen after video compression:
        # poll the status line (redrawn every second) rather than read it once
        first = poll(page, lambda: faced(page), "a face reported")
        shots_taken = []
        for _ in range(5):
            video_png = component.locator("video").screenshot()
            shots_taken.append(green_box(video_png))
            if shots_taken[-1][0] > 300:
                break
            page.wait_for_timeout(1000)
        (shots / "live_video.png").write_bytes(video_png)
        n_green, (cx, cy) = shots_taken[-1]
        assert n_green > 300, f"no face box in the returned video: {shots_taken}"
        assert 0.3 < cx < 0.75 and 0.2 < cy < 0.8, (cx, cy)  # around the face, mid-frame
        page.locator(".js-plotly-plot").first.wait_for()  # the timeline chart
        page.screenshot(path=str(shots / "live_streaming.png"), full_page=True)
        later = poll(page, lambda: (faced(page) or 0) > first + 5 and faced(page),
                     "the timeline growing")
        # the redraw loop ends every live_run_s seconds and Streamlit's timer starts it again:
        # the status keeps growing across those restarts
        page.wait_for_timeout(2.5 * server["live_run_s"] * 1000)
        later = poll(page, lambda: (faced(page) or 0) > later + 5 and faced(page),
                     "the timeline growing after the redraw loop restarted")
        component.get_by_role("button", name="STOP").click()
        page.get_by_text("Last session").wait_for()
        # STOP sets off two reruns about a second apart (a temporary print showed it); each
        # registers the download anew and revokes the last one: click once the page is quiet
        component.get_by_role("button", name="START").wait_for()
        wait_idle(page, quiet_s=3)
        download = page.get_by_role("button", name=re.compile("Download the timeline"))
        frames = page.locator('[data-testid="stMetric"]').filter(has_text="Frames analysed")
        n_frames = int(re.search(r"(\d+)\s*$", frames.inner_text()).group(1))
        assert n_frames >= later
        try:
            with page.expect_download(timeout=60_000) as got:  # the CSV is written on click
                download.click()
        except PlaywrightTimeout:
            pytest.fail("no download came; the server's log ends:\n"
                        + server["log"].read_text()[-3000:])
        rows = Path(got.value.path()).read_text().splitlines()
        assert rows[0].startswith("t_s,frame,faces,track,emotion,p_") and len(rows) - 1 >= n_frames
        # after STOP the redraw timer stops with the fragment: nothing reruns, nothing fails
        page.wait_for_timeout(1.5 * server["live_run_s"] * 1000)
        assert page.get_by_text(STATUS).count() == 0 and page.get_by_text("Last session").count()
        assert page.locator('[data-testid="stException"]').count() == 0
        log = server["log"].read_text()
        assert "Traceback" not in log and "fragment" not in log.lower(), log[-2000:]
        page.screenshot(path=str(shots / "live_stopped.png"), full_page=True)
    finally:
        context.close()


def test_classify_upload_shows_boxes_bars_and_overlays(camera_browser, server, shots, tmp_path):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(jpeg_bytes(astronaut()))
    # (one Playwright per process: the camera browser serves this page too)
    context, page = open_page(camera_browser, server, "Classify", height=2300)
    try:
        classify_and_explain(page, photo)
        for name in ("Grad-CAM", "Integrated Gradients", "SmoothGrad", "Occlusion"):
            page.get_by_text(re.compile(rf"^{name} \(")).first.wait_for()
        page.get_by_text("Method agreement", exact=False).wait_for()
        assert page.locator('[data-testid="stImage"] img').count() >= 5  # photo + 4 overlays
        # every picture decoded, not just its element present (else the screenshot shows holes)
        page.wait_for_function("""() =>
            [...document.querySelectorAll('[data-testid="stImage"] img')]
            .every(i => i.complete && i.naturalWidth > 0)""", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(shots / "classify_overlays.png"), full_page=True)
    finally:
        context.close()
