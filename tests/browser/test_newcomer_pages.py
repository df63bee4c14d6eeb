"""What a newcomer meets on the Home, Dataset, Classify and Live pages, in headless Chromium
at 1400 px against a server started as ``make run`` starts it (fixtures in conftest.py).

Live without a camera names the Session page instead of a raw ``NotFoundError``; a setting
out of its range is refused with a sentence and no stream is offered; Home's page links are
not cut off; Classify's check-box labels are whole and its photos survive a visit to another
page. Screenshots: ``<test output>/browser/newcomer_*.png``.
"""

from __future__ import annotations

import re

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


CUT_OFF = """els => els.filter(e => (e.innerText || '').trim() && e.scrollWidth > e.clientWidth + 1 &&
                             getComputedStyle(e).overflow !== 'visible')
                  .map(e => e.innerText)"""


def cut_off(page, selector: str) -> list[str]:
    """Texts of the elements under ``selector`` whose content is wider than their box
    (cut off or ended with an ellipsis)."""
    return page.eval_on_selector_all(f"{selector}, {selector} *", CUT_OFF)


def test_home_names_the_first_step_and_no_link_is_cut_off(page, server, shots):
    open_app(page, server)
    settle(page, "First step:")
    body = page.inner_text('[data-testid="stMain"]')
    assert "work at once" in body and "no training needed" in body
    links = page.locator('[data-testid="stMain"] [data-testid="stPageLink"]')
    assert links.count() == 6
    assert cut_off(page, '[data-testid="stMain"] [data-testid="stPageLink"]') == []
    assert "How accurate a finished run is" in body  # the description beside its link
    page.screenshot(path=str(shots / "newcomer_home.png"), full_page=True)


def _manifest_zip(folder) -> bytes:
    """A class-folder zip of face crops of three people (the astronaut's face, shifted and
    tinted per person) with a manifest.csv naming them."""
    import cv2
    import numpy as np
    from pages_support import zip_folder

    face = np.ascontiguousarray(astronaut()[50:180, 158:288])
    rows = ["path,participant,gender,age,country"]
    for p, (tint, gender, age, country) in enumerate([(0, "female", 25, "RU"),
                                                      (40, "male", 40, "PH"),
                                                      (-40, "female", 33, "IN")]):
        for e, emotion in enumerate(["happy", "sad"]):
            for k in range(2):  # two frames of each person and emotion
                img = np.clip(face.astype(int) + tint + 3 * k, 0, 255).astype(np.uint8)
                img = np.roll(img, 2 * k + e, axis=1)
                name = f"{emotion}/p{p}_{k}.jpg"
                (folder / emotion).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                rows.append(f"{name},person{p},{gender},{age},{country}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return zip_folder(folder, prefix="crops")


def test_dataset_upload_with_a_manifest_and_face_crop_thumbnails(page, server, shots, tmp_path):
    zip_path = tmp_path / "crops.zip"
    zip_path.write_bytes(_manifest_zip(tmp_path / "crops"))
    open_app(page, server, "Dataset")
    page.get_by_text("Upload a .zip").click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(zip_path))
    settle(page, "Participants taken from manifest.csv (3 people).")
    assert "non-image" not in page.inner_text('[data-testid="stMain"]')
    page.screenshot(path=str(shots / "newcomer_dataset.png"), full_page=True)
    page.get_by_role("tab", name="Sample faces").click()
    wait_idle(page)
    page.get_by_text("participant person2").first.wait_for()
    captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
    happy = captions[:3]
    assert happy == ["participant person0", "participant person1", "participant person2"]
    page.screenshot(path=str(shots / "newcomer_dataset_faces.png"), full_page=True)
    page.get_by_role("tab", name="Tables").click()
    wait_idle(page)
    page.screenshot(path=str(shots / "newcomer_dataset_tables.png"), full_page=True)


def _group_photo(path):
    import cv2
    import numpy as np

    face = cv2.resize(astronaut(), (300, 300), interpolation=cv2.INTER_AREA)
    img = np.full((340, 700, 3), 200, np.uint8)
    img[20:320, 20:320] = face
    img[60:300, 420:660] = cv2.resize(face, (240, 240), interpolation=cv2.INTER_AREA)
    path.write_bytes(jpeg_bytes(img))
    return path


def test_classify_follows_the_model_choice_and_explains_a_face_of_a_group_photo(
        page, server, shots, tmp_path):
    from fer_engine.analytics.synthetic import (
        loso_folds,
        synthetic_config,
        synthetic_predictions,
        write_run_folder,
    )
    from streamlit_server import select_option

    run_id = "20260101-000000-cnn-loso-bbbb"
    pred = synthetic_predictions(accuracy=0.6, seed=5)
    run = write_run_folder(server["runs"] / run_id, pred,
                           synthetic_config(model="cnn", protocol="loso", run_id=run_id),
                           loso_folds(pred), None)
    standin_model().save(run / "models", stem="fold_0")
    open_app(page, server, "Classify")
    settle(page, "never written to disk")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "the shipped pretrained model" in sidebar.inner_text()
    select_option(page, "Model", f"Run {run_id}")
    settle(page, "people resampled")  # the run's 'How good is it?' paragraph
    assert f"run {run_id}" in sidebar.inner_text()  # the sidebar followed at once
    assert cut_off(page, '[data-testid="stCheckbox"]') == []  # labels whole
    photo = _group_photo(tmp_path / "group.jpg")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    settle(page, "2 faces")
    page.get_by_text("Explain a face").click()
    settle(page, "Deletion area")
    page.get_by_role("combobox", name="Face", exact=True).click()
    page.get_by_role("option", name=re.compile("face 2")).first.click()
    settle(page, "Explaining")
    wait_idle(page)
    assert "face 2" in page.get_by_text("Explaining").first.inner_text()
    page.screenshot(path=str(shots / "newcomer_classify_group.png"), full_page=True)
    go(page, "Home")
    go(page, "Classify")
    settle(page, "Photos kept from your last upload: group.jpg")
    page.get_by_text("2 faces").first.wait_for()
