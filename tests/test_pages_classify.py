"""Classify page under AppTest: uploads and the camera, every kind of bad input, model choice.

The shipped model is replaced by the untrained stand-in (same architecture and input)
saved into a temporary artifacts folder (``FER_ARTIFACTS_DIR``), so no test depends on
``artifacts/pretrained`` existing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from live_clips import astronaut, blank_frame, jpeg_bytes, png_bytes, standin_model, webcam_frame
from pages_support import open_page, texts
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
PAGE = "pages/4_Classify.py"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """An artifacts folder whose pretrained/ holds the stand-in model; no runs."""
    root = tmp_path_factory.mktemp("artifacts")
    standin_model().save(root / "pretrained", stem="model")
    (root / "runs").mkdir()
    return root


@pytest.fixture
def app(artifacts, monkeypatch) -> AppTest:
    return open_page(PAGE, artifacts, monkeypatch)


def upload(at: AppTest, *files) -> AppTest:
    at.file_uploader(key="classify_files").set_value(list(files))
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def two_faces() -> np.ndarray:
    img = np.full((480, 640, 3), 120, np.uint8)
    img[120:360, 0:320] = webcam_frame(size=(320, 240))
    img[120:360, 320:640] = webcam_frame(shift=-8, size=(320, 240))
    return img


def test_page_says_photos_stay_in_memory(app):
    assert "never written to disk" in texts(app.info)
    assert "Shipped FER2013 model" in app.selectbox(key="classify_model").format_func(
        "pretrained")
    assert charts(app) == 0 and not app.error


def test_shipped_model_says_how_good_it_is_in_plain_words(tmp_path, monkeypatch):
    """Under the picker, from the model card: accuracy with its interval, the score of
    always naming the commonest emotion, the best and worst emotion, how often its 'fear'
    (and 'anger', absent here) is right; none without a card."""
    root = tmp_path / "artifacts"
    standin_model().save(root / "pretrained", stem="model")
    (root / "runs").mkdir()
    assert "How good is it?" not in texts(open_page(PAGE, root, monkeypatch).caption)
    per_class = [{"label": lab, "recall": r, "precision": p, "support": n}
                 for lab, r, p, n in (("happy", 0.9, 0.8, 80), ("fear", 0.3, 0.45, 50),
                                      ("sad", 0.5, 0.6, 70))]
    card = {"data": {"dataset": "FER2013"}, "evaluation": {
        "split": "public_test", "n_scored": 200, "accuracy": 0.6, "accuracy_low": 0.53,
        "accuracy_high": 0.67, "per_class": per_class}}
    (root / "pretrained" / "model_card.json").write_text(json.dumps(card))
    note = texts(open_page(PAGE, root, monkeypatch).caption)
    assert ("On 200 faces of FER2013's public_test split it named the right emotion for "
            "60.0 % (95 % interval 53.0 % to 67.0 %; always answering 'happy' would score "
            "40.0 %). It recognises happy best (90.0 % of those faces) and fear worst "
            "(30.0 %). When it answers 'fear' it is right 45.0 % of the time.") in note
    assert "optimistic" in note and "not a diagnosis" in note


def test_one_face_bars_then_explanations_with_faithfulness(app):
    upload(app, ("astronaut.jpg", jpeg_bytes(astronaut()), "image/jpeg"))
    assert [h.value for h in app.subheader] == ["astronaut.jpg"]
    assert charts(app) == 1 and not app.error and not app.warning
    assert "1 face" in app.image[0].captions[0]
    app.toggle(key="explain_on").set_value(True).run()
    assert not app.exception, app.exception
    captions = [c for img in app.image for c in img.captions]
    for name in ("Grad-CAM", "Integrated Gradients", "SmoothGrad", "Occlusion"):
        assert any(c.startswith(name) for c in captions), (name, captions)
    lines = texts(app.markdown)
    assert "Deletion area" in lines and "Insertion area" in lines and "Method agreement" in lines
    assert "random order" in lines
    # the opacity slider re-draws from the cached maps; the page stays consistent
    app.slider(key="explain_alpha").set_value(0.9).run()
    assert not app.exception and len([c for img in app.image for c in img.captions]) == 5


def test_explanations_say_when_they_come_from_the_graph_not_the_twin(app, tmp_path, monkeypatch):
    """No twin: the maps explain the served function and the page adds nothing. A shipped
    model served by a LiteRT twin: the page says the maps come from the float32 graph and
    quotes the card's agreement figure."""
    from fer_engine.models import lite

    upload(app, ("astronaut.jpg", jpeg_bytes(astronaut()), "image/jpeg"))
    assert "fast copy" not in texts(app.caption)

    root = tmp_path / "artifacts"
    (root / "runs").mkdir(parents=True)
    lite.write_twin(standin_model().save(root / "pretrained", stem="model"), flip=True)
    (root / "pretrained" / "model_card.json").write_text(
        json.dumps({"evaluation": {"agreement_keras_graph": 0.875}}))
    at = upload(open_page(PAGE, root, monkeypatch),
                ("astronaut.jpg", jpeg_bytes(astronaut()), "image/jpeg"))
    note = texts(at.caption)
    assert "fast copy of the model" in note and "its mirror image" in note
    assert "87.5% of the time" in note
    for jargon in ("served function", "float32", "Keras", "LiteRT", "twin"):
        assert jargon not in note


def test_several_faces_each_get_a_chart(app):
    upload(app, ("pair.png", png_bytes(two_faces()), "image/png"))
    assert charts(app) == 2
    assert "2 faces found in 'pair.png'" in texts(app.info)


def test_bad_files_each_get_a_message_and_the_good_one_still_works(app):
    good = jpeg_bytes(astronaut())
    upload(
        app,
        ("broken.jpg", good[: len(good) // 3], "image/jpeg"),
        ("notes.png", b"Meeting notes, not a picture.\n" * 40, "image/png"),
        ("wall.png", png_bytes(blank_frame()), "image/png"),
        ("astronaut.jpg", good, "image/jpeg"),
    )
    errors = texts(app.error)
    assert "'broken.jpg' is damaged" in errors
    assert "'notes.png' is not an image" in errors
    assert "No face was found in 'wall.png'" in texts(app.warning)
    # the page adds which of its settings to try
    assert "tick 'Look for small faces'" in texts(app.warning)
    assert "tick 'The photos are cropped faces'" in texts(app.warning)
    assert charts(app) == 1  # the good photo is classified all the same
    assert len(app.subheader) == 4


def test_tiny_faces_need_the_small_face_search_and_are_flagged(app):
    tile = np.tile(cv2.resize(astronaut(), (200, 200), interpolation=cv2.INTER_AREA), (2, 3, 1))
    upload(app, ("crowd.png", png_bytes(tile), "image/png"))
    found_normally = charts(app)
    app.checkbox(key="classify_small").check().run()
    assert not app.exception
    assert charts(app) == 6 > found_normally
    assert "Small faces" in texts(app.warning) and "caution" in texts(app.warning)


def test_huge_photo_is_classified_and_shown_scaled_down(app):
    big = cv2.resize(astronaut(), (3000, 3000), interpolation=cv2.INTER_LINEAR)
    upload(app, ("huge.jpg", jpeg_bytes(big, 80), "image/jpeg"))
    assert charts(app) >= 1  # (the Haar detector adds a false positive at this size)
    assert "Large photo (3000 x 3000 pixels, 9 megapixels)" in texts(app.info)
    assert "ticking 'Look for small faces'" in texts(app.info)
    app.checkbox(key="classify_small").check().run()
    assert "Large photo" in texts(app.info) and "Look for small faces" not in texts(app.info)


def test_cropped_face_mode(app):
    crop = cv2.resize(astronaut()[40:200, 140:300], (96, 96))
    upload(app, ("crop.png", png_bytes(crop), "image/png"))
    app.checkbox(key="classify_cropped").check().run()
    assert charts(app) == 1 and "detection is off" in texts(app.info)


def test_camera_photo(app):
    app.toggle(key="classify_camera").set_value(True).run()
    app.camera_input(key="classify_shot").set_value(
        ("shot.jpg", jpeg_bytes(webcam_frame()), "image/jpeg"))
    app.run()
    assert not app.exception, app.exception
    assert [h.value for h in app.subheader] == ["camera photo"] and charts(app) == 1


def test_upload_size_limit(artifacts, monkeypatch):
    monkeypatch.setenv("FER_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("FER_ARTIFACTS_DIR", str(artifacts))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    big = np.random.default_rng(0).integers(0, 255, (900, 900, 3), np.uint8)  # ~2.4 MB as PNG
    upload(at, ("noise.png", png_bytes(big), "image/png"))
    assert "accepts photos up to 1 MB" in texts(at.error) and charts(at) == 0


def _fake_run(root: Path) -> Path:
    """A minimal complete run folder holding the stand-in model as its only fold."""
    run = root / "20250101-120000-fervgg-holdout-abcd"
    standin_model().save(run / "models", stem="fold_0")
    (run / "config.json").write_text(json.dumps({
        "run_id": run.name, "created": "2025-01-01T12:00:00", "status": "complete",
        "dataset": {"name": "synthetic demo", "synthetic": True},
        "model": {"name": "fervgg"}, "protocol": {"name": "holdout", "leaky": False}}))
    (run / "metrics.json").write_text(json.dumps({"accuracy": 0.25, "macro_f1": 0.2}))
    return run


def test_missing_pretrained_model_says_so_and_offers_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.delenv("FER_RUNS_DIR", raising=False)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    warning = texts(at.warning)
    assert "not in this copy" in warning and "No finished run exists yet" in warning
    assert not at.get("file_uploader")  # the page stops before asking for photos
    run = _fake_run(tmp_path / "runs")
    at.run()
    assert "Choose one of the finished runs" in texts(at.warning)
    at.selectbox(key="classify_model").set_value(str(run)).run()
    assert not at.exception and not at.warning
    upload(at, ("astronaut.jpg", jpeg_bytes(astronaut()), "image/jpeg"))
    assert charts(at) == 1


def test_face_detector_is_a_choice_and_the_advice_names_the_better_one(app):
    box = app.selectbox(key="classify_detector")
    assert box.value == "mtcnn" and "haar" in box.options[0].lower() + box.options[1].lower()
    upload(app, ("empty.png", png_bytes(blank_frame()), "image/png"))
    assert "No face was found" in texts(app.warning)
    assert "Try the detector" not in texts(app.warning)  # already the best one
    app.selectbox(key="classify_detector").set_value("haar").run()
    assert not app.exception
    assert "Try the detector 'MTCNN" in texts(app.warning)


def test_a_model_trained_here_says_how_good_it_is(tmp_path, monkeypatch):
    """A run's paragraph: its out-of-fold accuracy with the people-resampled interval, the
    commonest-emotion score, best and worst emotion and the faces it learnt from (the
    sidebar following the choice at once: tests/browser/test_newcomer_pages.py)."""
    from fer_engine.analytics.plain import run_summary
    from fer_engine.analytics.synthetic import (
        loso_folds,
        synthetic_config,
        synthetic_predictions,
    )
    from fer_engine.analytics.synthetic import write_run_folder

    root = tmp_path / "artifacts"
    standin_model().save(root / "pretrained", stem="model")
    pred = synthetic_predictions(accuracy=0.6, seed=3)
    run = write_run_folder(root / "runs" / "20260101-000000-cnn-loso-aaaa", pred,
                           synthetic_config(model="cnn", protocol="loso",
                                            run_id="20260101-000000-cnn-loso-aaaa"),
                           loso_folds(pred), None)
    standin_model().save(Path(run) / "models", stem="fold_0")
    at = open_page(PAGE, root, monkeypatch)
    at.selectbox(key="classify_model").set_value(str(run)).run()
    assert not at.exception, at.exception
    note = texts(at.caption)
    expected = run_summary(run)
    assert expected and expected in note
    n_people = pred["participant"].nunique()
    acc = pred["correct"].mean() if "correct" in pred else (pred["true"] == pred["pred"]).mean()
    assert f"How good is it? On {len(pred):,} faces of {n_people} people of 'synthetic demo" in note
    assert f"named the right emotion for {100 * acc:.1f} %" in note
    assert "people resampled" in note and "It learnt from" in note
    assert "synthetic drawn faces" in note and "not a diagnosis" in note


def test_photos_and_settings_survive_a_visit_to_another_page(app):
    upload(app, ("pair.png", png_bytes(two_faces()), "image/png"))
    app.checkbox(key="classify_small").check().run()
    assert [h.value for h in app.subheader] == ["pair.png"] and charts(app) == 2
    app.switch_page("pages/1_Dataset.py").run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    assert [h.value for h in app.subheader] == ["pair.png"] and charts(app) == 2
    assert "Photos kept from your last upload: pair.png" in texts(app.caption)
    assert app.checkbox(key="classify_small").value  # the settings came back with them
    app.button(key="classify_forget").click().run()
    assert not app.subheader and charts(app) == 0
    # removing the files in the uploader forgets them too
    upload(app, ("pair.png", png_bytes(two_faces()), "image/png"))
    upload(app)
    app.switch_page("pages/1_Dataset.py").run()
    app.switch_page(PAGE).run()
    assert not app.subheader and charts(app) == 0


def test_the_face_table_is_in_words_and_percentages(app):
    upload(app, ("pair.png", png_bytes(two_faces()), "image/png"))
    (table,) = [d.value for d in app.dataframe]
    assert list(table.columns[:3]) == ["Face", "Emotion", "Probability"]
    assert list(table["Face"]) == [1, 2]
    assert all(v.endswith(" %") for v in table["Probability"])
    assert not [c for c in table.columns if c.startswith("p_") or c in ("x", "y", "w", "h")]


def test_the_uploader_offers_every_format_the_error_names(app):
    from PIL import Image

    from fer_engine.preprocess.decode import SUPPORTED

    uploader = app.file_uploader(key="classify_files")
    assert uploader.label == "Photos (JPEG, PNG, WebP, BMP, GIF or TIFF)"
    types = set(uploader.proto.type)
    for name in SUPPORTED.replace(" and ", ", ").split(", "):
        ext = {"JPEG": ".jpg", "TIFF": ".tiff"}.get(name, f".{name.lower()}")
        assert ext in types, (name, types)
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, format="GIF")
    ico = io.BytesIO()
    Image.fromarray(astronaut()).save(ico, format="ICO")
    upload(app, ("astronaut.gif", buf.getvalue(), "image/gif"),
           ("icon.png", ico.getvalue(), "image/png"))
    assert charts(app) == 1  # the GIF is classified
    assert f"supported formats are {SUPPORTED}" in texts(app.error)


def test_explanations_say_when_no_map_beats_the_random_order(app, monkeypatch):
    from dashboard import classify_ui
    from fer_engine.explain.faithfulness import Faithfulness

    upload(app, ("astronaut.jpg", jpeg_bytes(astronaut()), "image/jpeg"))
    for beats in (False, True):
        monkeypatch.setattr(Faithfulness, "beats_random", property(lambda self: beats))
        classify_ui.explain.clear()
        app.toggle(key="explain_on").set_value(True).run()
        assert not app.exception, app.exception
        warned = "should not be read as the model's reasons" in texts(app.warning)
        assert warned is not beats
    classify_ui.explain.clear()
