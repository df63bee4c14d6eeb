"""What a newcomer meets on the Home, Dataset, Classify and Live pages, in headless Chromium
at 1400 px against a server started as ``make run`` starts it (fixtures in conftest.py).

Live without a camera names the Session page instead of a raw ``NotFoundError``; a setting
out of its range is refused with a sentence and no stream is offered; Home's page links are
not cut off; Classify's check-box labels are whole and its photos survive a visit to another
page. Screenshots: ``<test output>/browser/newcomer_*.png``.
"""

from __future__ import annotations

import pytest
from live_clips import astronaut, clip_frames, jpeg_bytes, standin_model, write_y4m
from streamlit_server import FAKE_CAMERA, FLAGS, go, settle, wait_idle

pytestmark = pytest.mark.browser


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
def camera_browser(browser, chromium, tmp_path_factory):
    """A second Chromium (same Playwright) whose fake camera plays a short clip of a face."""
    clip = write_y4m(tmp_path_factory.mktemp("camera") / "clip.y4m", clip_frames(10))
    b = browser.browser_type.launch(
        executable_path=chromium, headless=True,
        args=FLAGS + FAKE_CAMERA + [f"--use-file-for-fake-video-capture={clip}"])
    yield b
    b.close()


def open_app(page, server, name: str | None = None):
    page.goto(server["url"])
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Home").wait_for()
    wait_idle(page)
    if name:
        go(page, name)


def webrtc_frame(page):
    """The streamlit-webrtc component's iframe (its START button lives inside)."""
    return page.frame_locator('iframe[title*="streamlit_webrtc"]')


def test_live_without_a_camera_points_to_the_session_page(page, server, shots):
    open_app(page, server, "Live")
    settle(page, "No camera found: use the Session page for a recorded video.")
    page.screenshot(path=str(shots / "newcomer_live_no_camera.png"), full_page=True)
    body = page.inner_text("body")
    assert "NotFoundError" not in body
    assert page.locator('iframe[title*="streamlit_webrtc"]').count() == 0  # no START to fail


def test_live_refuses_faces_per_frame_out_of_range(camera_browser, server, shots):
    context = camera_browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        open_app(page, server, "Live")
        webrtc_frame(page).get_by_role("button", name="START").wait_for()  # a camera: offered
        page.get_by_text("More settings").click()
        box = page.get_by_label("Faces per frame at most")
        box.fill("99999999")
        box.press("Enter")
        settle(page, "Faces per frame at most must be a whole number from 1 to 10; "
                     "99,999,999 is not.")
        assert "Nothing is analysed until every setting is in its allowed range" in \
            page.inner_text("body")
        assert page.locator('iframe[title*="streamlit_webrtc"]').count() == 0  # no START
        page.screenshot(path=str(shots / "newcomer_live_faces_refused.png"), full_page=True)
        box.fill("3")
        box.press("Enter")
        webrtc_frame(page).get_by_role("button", name="START").wait_for()  # offered again
    finally:
        context.close()
