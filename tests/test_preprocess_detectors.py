"""The detector registry, each bundled detector on a real photo, alignment, cache keys, CLI."""

from __future__ import annotations

import math
import types

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_engine.errors import UserFacingError
from fer_engine.preprocess import (
    DEFAULT_DETECTOR,
    DETECTORS,
    FaceBox,
    InputSpec,
    detect_faces,
    extract_aligned,
    extract_face,
    get_detector,
    prepare_image,
)
from fer_engine.preprocess import dataset_cache
from fer_engine.preprocess.align import alignment_angle, eye_angle, eye_midpoint, rotate_points
from fer_engine.preprocess.crop import crop_box
from fer_engine.preprocess.detectors import available

skimage_data = pytest.importorskip("skimage.data")

# The astronaut's eyes in skimage.data.astronaut() (512 x 512), read off the image by eye.
LEFT_EYE, RIGHT_EYE = (204, 100), (246, 102)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def installed(name: str):
    return pytest.param(
        name,
        marks=pytest.mark.skipif(not available(name), reason=f"{name}'s package not installed"),
    )


WITH_LANDMARKS = [installed(n) for n in DETECTORS if n != "haar"]


@pytest.mark.parametrize("name", [installed(n) for n in DETECTORS])
def test_each_detector_finds_the_astronaut(astronaut, name):
    (face,) = detect_faces(astronaut, detector=name)
    for x, y in (LEFT_EYE, RIGHT_EYE):
        assert face.contains(x, y)
    assert 70 <= face.w <= 130 and 70 <= face.h <= 130


@pytest.mark.parametrize("name", WITH_LANDMARKS)
def test_landmarks_lie_on_the_eyes(astronaut, name):
    (face,) = detect_faces(astronaut, detector=name)
    (lx, ly), (rx, ry) = face.eyes
    assert math.dist((lx, ly), LEFT_EYE) < 12
    assert math.dist((rx, ry), RIGHT_EYE) < 12
    assert 0.5 <= face.score <= 1.0  # a probability
    assert len(face.landmarks) == 5
    nose, mouth_l, mouth_r = face.landmarks[2:]
    assert ly < nose[1] < mouth_l[1] + 1 and ly < nose[1] < mouth_r[1] + 1  # eyes, nose, mouth


@pytest.mark.parametrize("name", [installed(n) for n in DETECTORS])
def test_nothing_on_a_blank_image(name):
    assert detect_faces(np.full((480, 640, 3), 128, np.uint8), detector=name) == []
    assert detect_faces(np.zeros((64, 64), np.uint8), detector=name) == []


def test_large_photo_boxes_are_in_its_pixels(astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    (face,) = detect_faces(big, detector="mtcnn")
    (lx, ly), _ = face.eyes
    assert math.dist((lx, ly), (LEFT_EYE[0] * 4, LEFT_EYE[1] * 4)) < 40
    assert face.contains(RIGHT_EYE[0] * 4, RIGHT_EYE[1] * 4)


def test_registry_refuses_an_unknown_name_in_one_sentence():
    with pytest.raises(UserFacingError) as info:
        get_detector("dlib")
    message = str(info.value)
    assert message == (
        "Unknown face detector 'dlib': choose one of haar, mtcnn, blazeface, blazeface-short."
    )
    with pytest.raises(UserFacingError, match="choose one of haar, mtcnn"):
        prepare_image(np.zeros((64, 64, 3), np.uint8), InputSpec(48, 1), detector="retina")
    assert DEFAULT_DETECTOR in DETECTORS


# --- alignment ------------------------------------------------------------------------------


def two_eyes(angle: float) -> tuple[np.ndarray, FaceBox]:
    """A light 240x240 image with two dark eyes 60 px apart, their line tilted by ``angle``
    degrees about (120, 110), and the face box with those landmarks."""
    img = np.full((240, 240, 3), 210, np.uint8)
    t = math.radians(angle)
    eyes = [(120 + d * math.cos(t), 110 + d * math.sin(t)) for d in (-30, 30)]
    for x, y in eyes:
        cv2.circle(img, (round(x), round(y)), 7, (20, 20, 20), -1, lineType=cv2.LINE_AA)
    box = FaceBox(70, 80, 100, 100, 0.99, (eyes[0], eyes[1], (120, 135), (105, 150), (135, 150)))
    return img, box


def dark_centroids(gray: np.ndarray) -> list[tuple[float, float]]:
    """Centres of the two dark blobs, left one first."""
    n, _, stats, centres = cv2.connectedComponentsWithStats((gray < 100).astype(np.uint8))
    blobs = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:2]
    return sorted((float(centres[i][0]), float(centres[i][1])) for i in blobs)


@pytest.mark.parametrize("angle", [-25.0, 20.0])
def test_alignment_levels_a_tilted_pair_of_eyes(angle):
    img, face = two_eyes(angle)
    assert eye_angle(face) == pytest.approx(angle)
    spec = InputSpec(96, 1, "raw")
    crop = crop_box(face, img.shape, 0.2)
    straight = extract_face(img, crop, spec)[..., 0]
    aligned = extract_aligned(img, crop, alignment_angle(face), spec, about=eye_midpoint(face))
    aligned = aligned[..., 0]
    (sx0, sy0), (sx1, sy1) = dark_centroids(straight)
    (ax0, ay0), (ax1, ay1) = dark_centroids(aligned)
    assert abs(sy1 - sy0) > 12  # tilted: 60 * sin(20) * 96 / 140 = 14 px at 20 degrees
    assert abs(ay1 - ay0) < 1.0  # levelled
    # Rotated about the eye midpoint, same crop box: eye distance and midpoint unchanged.
    assert math.dist((ax0, ay0), (ax1, ay1)) == pytest.approx(math.dist((sx0, sy0), (sx1, sy1)),
                                                              abs=1.5)
    assert (ax0 + ax1) / 2 == pytest.approx((sx0 + sx1) / 2, abs=1.5)
    assert (ay0 + ay1) / 2 == pytest.approx((sy0 + sy1) / 2, abs=1.5)
    # rotate_points predicts where the eyes go.
    (px0, py0), (px1, py1) = rotate_points(face.eyes, eye_midpoint(face), alignment_angle(face))
    assert abs(py1 - py0) < 1e-6


def test_alignment_at_angle_zero_equals_the_straight_crop():
    img, face = two_eyes(0.0)
    spec = InputSpec(48, 3, "raw")
    crop = crop_box(face, img.shape, 0.2)
    diff = np.abs(extract_aligned(img, crop, 0.0, spec).astype(int)
                  - extract_face(img, crop, spec).astype(int))
    assert diff.mean() < 3.0


def test_prepare_image_aligns_a_rotated_astronaut(astronaut):
    h, w = astronaut.shape[:2]
    rot = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((225, 115), -20, 1.0), (w, h),
                         borderMode=cv2.BORDER_REFLECT)
    straight = prepare_image(rot, InputSpec(96, 1, "raw"), detector="mtcnn", align=False)
    aligned = prepare_image(rot, InputSpec(96, 1, "raw"), detector="mtcnn", align=True)
    assert straight.angles == [0.0]
    assert aligned.angles[0] == pytest.approx(20.0, abs=5.0)  # her eyes tilt by ~20 degrees
    assert aligned.face_found and not np.array_equal(aligned.pixels, straight.pixels)
    # Haar has no landmarks: align=True cuts the crop straight.
    haar = prepare_image(rot[:, :, :], InputSpec(48, 1), detector="haar", align=True)
    assert all(a == 0.0 for a in haar.angles)


# --- cache key ------------------------------------------------------------------------------


def test_cache_key_changes_with_detector_and_alignment(tmp_path):
    ds = types.SimpleNamespace(
        table=pd.DataFrame({"path": [str(tmp_path / "a.png"), str(tmp_path / "b.png")]}),
        fingerprint="fixed",
    )
    spec = InputSpec(48, 1)

    def key(**kw):
        args = dict(detect=True, margin=0.2, fallback="centre", min_size=0.1, scale_factor=1.1,
                    min_neighbors=5, detector="mtcnn", align=True)
        args.update(kw)
        return dataset_cache.cache_key(ds, spec, dataset_cache._settings(**args))

    keys = {key(), key(detector="haar"), key(align=False), key(detector="haar", align=False)}
    assert len(keys) == 4
    assert key() == key()
    # Without detection neither setting touches the arrays, so neither changes the key.
    assert key(detect=False) == key(detect=False, detector="haar", align=False)


# --- CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--detector", "haar", "--no-align"], {"detector": "haar", "align": False}),
        (["--detector", "mtcnn", "--align"], {"detector": "mtcnn", "align": True}),
    ],
)
def test_predict_detector_reaches_the_engine(tmp_path, monkeypatch, astronaut, argv, expected):
    import fer_engine.preprocess as preprocess
    from fer_engine.cli import main

    seen = {}
    real = preprocess.prepare_image

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(preprocess, "prepare_image", spy)
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.csv"
    assert main(["predict", "--model", "pretrained", *argv, "--csv", str(out), str(photo)]) == 0
    assert {k: seen[k] for k in expected} == expected
    table = pd.read_csv(out)
    assert len(table) == 1 and table["error"].isna().all()


def test_cli_refuses_an_unknown_detector(capsys):
    from fer_engine.cli import main

    with pytest.raises(SystemExit):
        main(["predict", "--model", "pretrained", "--detector", "dlib", "--csv", "x.csv", "a.png"])
    assert "invalid choice: 'dlib'" in capsys.readouterr().err


def test_mtcnn_falls_back_to_haar_where_it_finds_nothing(astronaut, monkeypatch):
    from fer_engine.preprocess import detectors
    from fer_engine.preprocess.faces import detect_haar

    mtcnn = get_detector("mtcnn")
    calls = []

    class Blind:
        def detect_faces(self, image, **kwargs):
            calls.append(kwargs["min_face_size"])
            return []

    monkeypatch.setattr(mtcnn, "_model", Blind())
    faces = detect_faces(astronaut, detector="mtcnn")
    # both pyramids, then both again on the copy with a border
    assert calls == [detectors.MTCNN_MIN_FACE_PX, detectors.MTCNN_RETRY_FACE_PX] * 2
    assert faces == detect_haar(astronaut) and len(faces) == 1
    assert faces[0].landmarks is None  # Haar's box: cut straight even with align=True
    monkeypatch.setattr(detectors, "MTCNN_HAAR_FALLBACK", False)
    assert detect_faces(astronaut, detector="mtcnn") == []


def test_mtcnn_looks_again_with_a_border_for_a_face_that_fills_the_photo(monkeypatch):
    """A face touching the photo's edges: where no pyramid finds it, MTCNN runs on a copy
    with a replicated border, and the box and landmarks come back in the photo's pixels."""
    from fer_engine.preprocess import detectors, faces

    mtcnn = get_detector("mtcnn")
    photo = np.full((400, 300, 3), 128, np.uint8)  # above SMALL_IMAGE_SIDE: no border at first
    pad = round(faces.SMALL_IMAGE_BORDER * 300)
    shapes = []

    class EdgeBlind:
        """Sees a face only when the image has a border: at the photo's full extent."""

        def detect_faces(self, image, **kwargs):
            shapes.append(image.shape[:2])
            if image.shape[:2] == (400, 300):
                return []
            eye = {"left_eye": (pad + 100, pad + 150), "right_eye": (pad + 200, pad + 150),
                   "nose": (pad + 150, pad + 200), "mouth_left": (pad + 110, pad + 300),
                   "mouth_right": (pad + 190, pad + 300)}
            return [{"box": [pad, pad, 300, 400], "confidence": 0.99, "keypoints": eye}]

    monkeypatch.setattr(mtcnn, "_model", EdgeBlind())
    found = detect_faces(photo, detector="mtcnn")
    assert shapes[:2] == [(400, 300)] * 2 and shapes[2] == (400 + 2 * pad, 300 + 2 * pad)
    assert found == [faces.FaceBox(0, 0, 300, 400, 0.99)]
    assert found[0].landmarks[0] == pytest.approx((100, 150))
    monkeypatch.setattr(detectors, "MTCNN_BORDER_RETRY", False)
    shapes.clear()
    assert detect_faces(photo, detector="mtcnn") == []  # a flat photo: Haar finds nothing
    assert all(s == (400, 300) for s in shapes)
