"""Face detection on a real photograph, box mapping, ordering, no-face images, thread safety."""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np
import pytest

from fer_engine.preprocess import FaceBox, detect_faces

skimage_data = pytest.importorskip("skimage.data")

# Landmarks of the astronaut (Eileen Collins) in skimage.data.astronaut(), 512 x 512,
# read off the image by eye: eyes, mouth centre. Her face (skin, brow to chin) spans
# about x 182-270, y 65-172; hair reaches up to y 15.
LEFT_EYE, RIGHT_EYE, MOUTH = (204, 100), (246, 102), (225, 145)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def covers_face(box: FaceBox, scale: float = 1.0, dx: float = 0, dy: float = 0) -> bool:
    return all(
        box.contains(x * scale + dx, y * scale + dy) for x, y in (LEFT_EYE, RIGHT_EYE, MOUTH)
    )


def test_finds_the_astronauts_face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert covers_face(face)
    assert 70 <= face.w <= 130 and 70 <= face.h <= 130  # face, not head and shoulders
    cx, cy = face.centre
    assert abs(cx - 225) < 20 and abs(cy - 115) < 25
    assert face.score > 0


def test_big_photo_is_downscaled_and_boxes_come_back_in_original_pixels(astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    (face,) = detect_faces(big)
    assert covers_face(face, scale=4.0)
    (small,) = detect_faces(astronaut)
    assert face.iou(FaceBox(small.x * 4, small.y * 4, small.w * 4, small.h * 4)) > 0.7


def test_several_faces_largest_first(astronaut):
    # The photo at full size next to a copy at 60 %, offset to the right and down.
    small = cv2.resize(astronaut, (307, 307), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 819, 3), 200, dtype=np.uint8)
    canvas[:, :512] = astronaut
    canvas[100:407, 512:] = small
    faces = detect_faces(canvas, min_size=0.05)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert covers_face(faces[0])
    assert covers_face(faces[1], scale=0.6, dx=512, dy=100)


def test_gray_input_and_tight_crop(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert covers_face(detect_faces(gray)[0])
    # A tight face crop (face touching the edges) is still found thanks to the added border.
    crop = astronaut[60:170, 170:280]
    faces = detect_faces(crop)
    assert len(faces) == 1 and covers_face(faces[0], dx=-170, dy=-60)
    assert faces[0].x >= 0 and faces[0].y >= 0 and faces[0].x2 <= 110 and faces[0].y2 <= 110


@pytest.mark.parametrize("kind", ["gradient", "noise", "flat"])
def test_no_face_in_images_without_one(kind):
    rng = np.random.default_rng(0)
    if kind == "gradient":
        img = np.linspace(0, 255, 400)[None, :, None] * np.ones((300, 1, 3)) + rng.normal(
            0, 8, (300, 400, 3)
        )
    elif kind == "noise":
        img = rng.integers(0, 256, (300, 400, 3))
    else:
        img = np.full((300, 400, 3), 90)
    assert detect_faces(np.clip(img, 0, 255).astype(np.uint8)) == []


def test_min_size_filters_small_faces(astronaut):
    assert detect_faces(astronaut, min_size=0.5) == []  # her face is ~0.2 of the side
    with pytest.raises(ValueError):
        detect_faces(astronaut, min_size=2)
    with pytest.raises(ValueError):
        detect_faces(astronaut, scale_factor=1.0)


def test_detection_from_several_threads_agrees(astronaut):
    expected = detect_faces(astronaut)
    results: list = [None] * 3

    def work(i: int) -> None:
        results[i] = detect_faces(astronaut)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_facebox_helpers_and_round_trip():
    box = FaceBox(10, 20, 30, 40, 2.5)
    assert box.area == 1200 and (box.x2, box.y2) == (40, 60) and box.centre == (25.0, 40.0)
    assert FaceBox.from_dict(box.to_dict()) == box
    plain = FaceBox(1, 2, 3, 4)
    assert "score" not in plain.to_dict() and math.isnan(FaceBox.from_dict(plain.to_dict()).score)
    assert box.intersection(FaceBox(25, 40, 100, 100)) == 15 * 20
    assert box.iou(box) == 1.0 and box.iou(FaceBox(100, 100, 5, 5)) == 0.0
    assert box.contains(10, 20) and not box.contains(40, 20)
