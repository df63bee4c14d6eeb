"""Classify-page engine: one photo in memory -> faces, probabilities, notes, overlays and
faithfulness lines. Real face photos (astronaut) with the real detector; the untrained
stand-in network where gradients are needed, a fake model where only calls matter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from live_clips import FakeModel, astronaut, blank_frame, jpeg_bytes, png_bytes, webcam_frame

from fer_engine.errors import ImageError
from fer_engine.explain import DEFAULT_METHODS, explain_face, face_faithfulness, overlay_panel
from fer_engine.inference.classify import BOX_RGB, SMALL_FACE_PX, annotate, classify_image


def two_faces() -> np.ndarray:
    img = np.full((480, 640, 3), 120, np.uint8)
    img[120:360, 0:320] = webcam_frame(size=(320, 240))
    img[120:360, 320:640] = webcam_frame(shift=-8, size=(320, 240))
    return img


def green_pixels(rgb: np.ndarray) -> int:
    return int((np.abs(rgb.astype(int) - BOX_RGB).sum(axis=2) == 0).sum())


def test_one_face_from_jpeg_bytes_one_model_call():
    model = FakeModel()
    res = classify_image(model, jpeg_bytes(astronaut()), name="astronaut.jpg")
    assert model.calls == [1] and res.status == "face" and res.notes == []
    [face] = res.faces
    assert (face.label, face.confidence) == ("happy", pytest.approx(1.0))
    # the detector's box on the astronaut's face (177, 67, 93, 93 in the 512 px photo)
    assert abs(face.box.x - 177) < 12 and abs(face.box.y - 67) < 12 and 80 < face.box.w < 110
    table = res.table()
    assert list(table["face"]) == [1] and table.filter(like="p_").sum(axis=1).iloc[0] == \
        pytest.approx(1.0, abs=1e-3)
    probs = res.probabilities(0)
    assert list(probs["emotion"])[:3] == ["Anger", "Disgust", "Fear"]
    shown = annotate(res)
    assert shown.shape == (512, 512, 3) and green_pixels(shown) > 300
    assert green_pixels(astronaut()) == 0


def test_several_faces_are_numbered_and_batched():
    model = FakeModel()
    res = classify_image(model, png_bytes(two_faces()), name="pair.png")
    assert len(res.faces) == 2 and model.calls == [2]
    assert res.faces[0].box.x < 320 <= res.faces[1].box.x or \
        res.faces[1].box.x < 320 <= res.faces[0].box.x
    assert [(n.level, n.kind) for n in res.notes] == [("info", "several_faces")]
    assert "2 faces found in 'pair.png'" in res.notes[0].text
    assert list(res.table()["face"]) == [1, 2]


def test_max_faces_caps_and_says_so():
    res = classify_image(FakeModel(), two_faces(), max_faces=1)
    assert len(res.faces) == 1 and "the 1 largest are classified" in res.notes[0].text


def test_no_face_gives_advice_and_no_model_call():
    model = FakeModel()
    res = classify_image(model, png_bytes(blank_frame()), name="wall.png")
    assert res.faces == [] and model.calls == []
    [(level, text, kind)] = res.notes
    assert (level, kind) == ("warning", "no_face")
    assert "No face was found in 'wall.png'" in text and "looking at the camera" in text
    assert "tick" not in text  # the page names its own settings (test_pages_classify)


def test_tiny_faces_found_with_the_small_face_search_and_flagged():
    tile = np.tile(cv2.resize(astronaut(), (200, 200), interpolation=cv2.INTER_AREA), (2, 3, 1))
    normal = classify_image(FakeModel(), tile)
    small = classify_image(FakeModel(), tile, small_faces=True)
    assert len(small.faces) > len(normal.faces)
    assert len(small.faces) == 6 and all(f.small for f in small.faces)
    assert [n.kind for n in small.notes] == ["several_faces", "small_faces"]
    levels = dict((lvl, t) for lvl, t, _ in small.notes)
    assert "6 faces found" in levels["info"]
    assert f"below {SMALL_FACE_PX} pixels" in levels["warning"]
    assert "caution" in levels["warning"]


def test_huge_photo_is_explained_and_shown_scaled_down():
    big = cv2.resize(astronaut(), (4000, 4000), interpolation=cv2.INTER_LINEAR)
    res = classify_image(FakeModel(), big, name="big.png")
    assert len(res.faces) == 1 and res.faces[0].box.w > 500
    [(level, text, kind)] = res.notes
    assert (level, kind) == ("info", "large_photo")
    assert "4000 x 4000 pixels, 16 megapixels" in text
    # faces of 10 % of the shorter side: 64 px in the 640 copy = 400 px of the photo
    assert "smaller than about 400 pixels" in text and "crop the photo around it" in text
    assert "tick" not in text  # the page names its own settings (test_pages_classify)
    res = classify_image(FakeModel(), big, small_faces=True, detector="haar")
    assert "smaller than about 150 pixels" in res.notes[0].text  # the cascade's 24 px x 6.25
    res = classify_image(FakeModel(), big, small_faces=True)  # MTCNN: 3 % of 640 = 19 px x 6.25
    assert "smaller than about 119 pixels" in res.notes[0].text
    assert annotate(res).shape == (1280, 1280, 3)


def test_cropped_face_mode_uses_the_centre_square():
    crop = cv2.resize(astronaut()[50:180, 160:290], (48, 48))
    res = classify_image(FakeModel(), png_bytes(crop), detect=False)
    assert res.status == "whole" and len(res.faces) == 1
    assert res.faces[0].box.as_tuple() == (0, 0, 48, 48)
    assert res.notes[0].kind == "detection_off" and "detection is off" in res.notes[0].text


@pytest.mark.parametrize("data,match", [
    (jpeg_bytes(astronaut())[:3000], "damaged|truncated"),
    (b"%PDF-1.4 definitely not a photo" * 20, "not an image"),
    (b"", "empty"),
])
def test_corrupt_files_and_non_images_raise_a_clear_error(data, match):
    with pytest.raises(ImageError, match=match):
        classify_image(FakeModel(), data, name="x.jpg")


# ----------------------------------------------------------------------- explanations


@pytest.fixture(scope="module")
def standin():
    from live_clips import standin_model

    return standin_model()


@pytest.mark.slow
def test_explanations_overlays_and_faithfulness_lines(standin):
    res = classify_image(standin, jpeg_bytes(astronaut()), name="a.jpg")
    [face] = res.faces
    assert face.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    exps = explain_face(standin, face)
    assert list(exps) == list(DEFAULT_METHODS)
    for e in exps.values():
        assert e.map.shape == (48, 48) and e.target == int(np.argmax(face.probabilities))
        assert 0.0 <= e.map.min() and e.map.max() <= 1.0
    panel = overlay_panel(res, face, exps["gradcam"].map, alpha=0.6, max_side=300)
    plain = overlay_panel(res, face, exps["gradcam"].map, alpha=0.0, max_side=300)
    assert max(panel.shape[:2]) == 300 and panel.shape == plain.shape
    assert np.abs(panel.astype(int) - plain.astype(int)).mean() > 5  # the map is visible
    # alpha 0 shows the original photo around the face (not the 48x48 gray input)
    assert plain.std(axis=2).mean() > 5  # colour: it is the original RGB photo
    f = face_faithfulness(standin, face, exps, steps=10)
    assert set(f.deletion) == set(DEFAULT_METHODS) == set(f.insertion)
    assert all(0.0 <= v <= 1.0 for v in [*f.deletion.values(), *f.insertion.values()])
    assert f.agreement.shape == (4, 4) and np.allclose(np.diag(f.agreement), 1.0)
    lines = f.lines()
    assert len(lines) == 3 + (not f.beats_random)
    assert lines[0].startswith("Deletion area") and "random order" in lines[0]
    assert lines[1].startswith("Insertion area") and "IG" in lines[1]
    assert lines[2].startswith("Method agreement") and "over 6 pairs" in lines[2]
    assert f"{f.deletion['gradcam']:.2f}" in lines[0]


def tilted_astronaut(degrees: float = 20.0) -> np.ndarray:
    """The astronaut turned about her face, so the detector's landmarks ask for alignment."""
    img = astronaut()
    m = cv2.getRotationMatrix2D((256.0, 140.0), degrees, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def test_aligned_faces_carry_their_angle_and_maps_are_turned_back_onto_the_photo():
    from dataclasses import replace

    from fer_engine.preprocess import paste_map

    res = classify_image(FakeModel(), tilted_astronaut(), name="tilted.png")
    [face] = res.faces
    assert 12 < abs(face.angle) < 28  # eyes levelled by about the tilt
    assert classify_image(FakeModel(), tilted_astronaut(), align=False).faces[0].angle == 0.0
    # The input's own pixels pasted back lie over the photo's face only when turned back
    gray = cv2.cvtColor(res.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    pixels = face.pixels[..., 0].astype(np.float32)

    def fit(angle: float) -> float:
        placed = paste_map(pixels, face.crop, res.rgb.shape, fill=np.nan, angle=angle)
        inside = np.isfinite(placed)
        return float(np.corrcoef(placed[inside], gray[inside])[0, 1])

    assert fit(face.angle) > 0.8 > 0.6 > fit(0.0) > fit(-face.angle)  # measured 0.86, 0.42, 0.08
    # overlay_panel uses the face's angle
    ramp = np.tile(np.linspace(0, 1, 48, dtype=np.float32), (48, 1))
    turned = overlay_panel(res, face, ramp, alpha=1.0)
    straight = overlay_panel(res, replace(face, angle=0.0), ramp, alpha=1.0)
    assert np.abs(turned.astype(int) - straight.astype(int)).mean() > 3


def test_the_detector_can_be_chosen_and_unknown_names_are_refused():
    from fer_engine.errors import UserFacingError

    photo = jpeg_bytes(tilted_astronaut())
    assert len(classify_image(FakeModel(), photo, detector="mtcnn").faces) == 1
    haar = classify_image(FakeModel(), photo, detector="haar")
    assert all(f.angle == 0.0 for f in haar.faces)  # no landmarks: cut straight
    with pytest.raises(UserFacingError, match="Unknown face detector 'nope'"):
        classify_image(FakeModel(), photo, detector="nope")


def test_faithfulness_says_when_no_map_beats_the_random_order():
    import pandas as pd

    from fer_engine.explain.faithfulness import Faithfulness

    names = ["gradcam", "ig"]
    agree = pd.DataFrame(np.eye(2), index=names, columns=names)
    worse = Faithfulness("fear", {"gradcam": 0.41, "ig": 0.40}, {"gradcam": 0.5, "ig": 0.5},
                         0.38, 0.45, agree)
    assert not worse.beats_random
    lines = worse.lines()
    assert len(lines) == 4 and lines[3].startswith(
        "No map lowers the probability of Fear faster than removing pixels in a random order")
    assert "should not be read as the model's reasons" in lines[3]
    better = Faithfulness("fear", {"gradcam": 0.30, "ig": 0.40}, {"gradcam": 0.5, "ig": 0.5},
                          0.38, 0.45, agree)
    assert better.beats_random and len(better.lines()) == 3


def test_faces_are_numbered_left_to_right_and_tabled_in_words():
    img = np.full((480, 960, 3), 120, np.uint8)
    img[120:360, 640:960] = webcam_frame(size=(320, 240))  # the larger face on the right
    small = cv2.resize(webcam_frame(size=(320, 240)), (240, 180), interpolation=cv2.INTER_AREA)
    img[150:330, 40:280] = small
    res = classify_image(FakeModel(), img)
    assert len(res.faces) == 2
    assert [f.index for f in res.faces] == [0, 1]
    assert res.faces[0].box.x < res.faces[1].box.x  # face 1 is the left one
    assert res.faces[0].box.w < res.faces[1].box.w  # though it is the smaller
    words = res.table_in_words()
    assert list(words.columns[:3]) == ["Face", "Emotion", "Probability"]
    assert list(words["Face"]) == [1, 2] and list(words["Emotion"]) == ["Happy", "Happy"]
    assert words["Probability"].iloc[0] == "100 %"
    assert "Anger" in words.columns and words["Anger"].iloc[0] == "0 %"
    assert "p_anger" not in words.columns and "x" not in words.columns
    assert words["Where (pixels)"].iloc[0].startswith(f"{res.faces[0].box.w} x")


def test_the_region_the_model_saw_is_outlined_on_the_panel():
    res = classify_image(FakeModel(), jpeg_bytes(astronaut()), name="a.jpg", align=False)
    [face] = res.faces
    c, pad = face.crop, round(face.crop.w * 0.35)
    x0, y0 = max(0, c.x - pad), max(0, c.y - pad)
    x1, y1 = min(512, c.x2 + pad), min(512, c.y2 + pad)
    panel = overlay_panel(res, face, np.zeros((48, 48), np.float32), alpha=0.0, max_side=300)
    plain = cv2.resize(res.rgb[y0:y1, x0:x1], panel.shape[1::-1], interpolation=cv2.INTER_AREA)
    drawn = np.abs(panel.astype(int) - plain.astype(int)).max(axis=2) > 60
    scale = 300 / max(y1 - y0, x1 - x0)
    rows, cols = np.nonzero(drawn)
    # a closed square line around the crop, nothing else changed
    assert abs(cols.min() - (c.x - x0) * scale) < 4 and abs(cols.max() - (c.x2 - x0) * scale) < 4
    assert abs(rows.min() - (c.y - y0) * scale) < 4 and abs(rows.max() - (c.y2 - y0) * scale) < 4
    assert drawn.sum() > 2 * 4 * c.w * scale  # at least two pixels thick all round
    assert not drawn[rows.min() + 8:rows.max() - 8, cols.min() + 8:cols.max() - 8].any()
