"""Crop boxes, model inputs of both sizes and every normalisation, paste_map, prepare_image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fer_engine.errors import ImageError, NoFaceError
from fer_engine.preprocess import (
    GRAY_48,
    RGB_224,
    FaceBox,
    InputSpec,
    centre_box,
    crop_box,
    denormalise,
    extract_face,
    paste_map,
    prepare_image,
    to_model_input,
)

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def no_face() -> np.ndarray:
    ramp = np.linspace(40, 220, 300)[None, :, None] * np.ones((200, 1, 3))
    return ramp.astype(np.uint8)


# --- crop boxes ---------------------------------------------------------------------------


def test_crop_box_adds_margin_and_stays_centred():
    crop = crop_box(FaceBox(100, 100, 50, 50), (400, 400, 3), margin=0.2)
    assert crop.as_tuple() == (90, 90, 70, 70)
    assert crop_box(FaceBox(100, 100, 50, 50), (400, 400), margin=0).as_tuple() == (
        100,
        100,
        50,
        50,
    )
    # A tall box becomes a square on its longer side.
    assert crop_box(FaceBox(100, 100, 40, 60), (400, 400), margin=0.5).as_tuple() == (
        60,
        70,
        120,
        120,
    )


def test_crop_box_near_the_border_is_shifted_inside_when_it_fits():
    crop = crop_box(
        FaceBox(0, 160, 40, 40), (200, 300), margin=0.2
    )  # face in the bottom-left corner
    assert crop.as_tuple() == (0, 144, 56, 56)  # shifted right and up to fit, still 56 square
    assert crop.x2 <= 300 and crop.y2 <= 200


def test_crop_box_larger_than_the_image_extends_past_the_border_and_is_padded():
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    img[:, :50] = (200, 0, 0)  # left half red, right half black
    crop = crop_box(FaceBox(0, 0, 90, 90), img.shape, margin=0.2)
    assert crop.as_tuple() == (-18, -18, 126, 126)
    spec = InputSpec(126, 3, "raw")  # 1:1 so padding is visible pixel by pixel
    face = extract_face(img, crop, spec)
    np.testing.assert_array_equal(
        face[:, :18], np.broadcast_to((200, 0, 0), (126, 18, 3))
    )  # left edge repeated
    np.testing.assert_array_equal(face[:, 118:], 0)  # right edge (black) repeated
    np.testing.assert_array_equal(face[18:118, 18:118], img[:100, :100])


def test_centre_box():
    assert centre_box((100, 300, 3)).as_tuple() == (100, 0, 100, 100)
    assert centre_box((300, 100)).as_tuple() == (0, 100, 100, 100)
    assert centre_box((200, 200), fraction=0.5).as_tuple() == (50, 50, 100, 100)


# --- model inputs -------------------------------------------------------------------------


def test_gray_input_uses_luminance():
    img = np.zeros((60, 90, 3), dtype=np.uint8)
    img[:, :30] = (255, 0, 0)
    img[:, 30:60] = (0, 255, 0)
    img[:, 60:] = (0, 0, 255)
    for box, want in (
        (FaceBox(0, 0, 30, 30), 76),
        (FaceBox(30, 0, 30, 30), 150),
        (FaceBox(60, 0, 30, 30), 29),
    ):
        face = extract_face(img, box, GRAY_48)
        assert face.shape == (48, 48, 1) and face.dtype == np.uint8
        assert abs(int(face.mean()) - want) <= 1  # 0.299 R + 0.587 G + 0.114 B


def test_gray_photo_to_rgb_input_replicates_channels():
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    for img in (gray, gray[:, :, None]):
        face = extract_face(img, FaceBox(0, 0, 64, 64), RGB_224)
        assert face.shape == (224, 224, 3)
        np.testing.assert_array_equal(face[..., 0], face[..., 1])
        np.testing.assert_array_equal(face[..., 0], face[..., 2])


SPECS = [
    InputSpec(48, 1, "unit"),
    InputSpec(48, 1, "symmetric"),
    InputSpec(48, 1, "raw"),
    InputSpec(224, 3, "unit"),
    InputSpec(224, 3, "resnet50"),
    InputSpec(224, 3, "vgg16"),
]
#: Per-normalisation (min, max) of a full-range input (per channel B, G, R for the Caffe styles).
RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0), "raw": (0.0, 255.0)}
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.size}x{s.channels}-{s.normalisation}")
def test_model_input_shape_and_value_range(spec):
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    img[:, 50:] = 255  # black left half, white right half: the full range
    x = to_model_input(img, None, spec)
    assert x.shape == spec.shape and x.dtype == np.float32
    if spec.normalisation in RANGES:
        lo, hi = RANGES[spec.normalisation]
        assert x.min() == pytest.approx(lo, abs=1e-6) and x.max() == pytest.approx(hi, abs=1e-4)
    else:  # BGR, ImageNet mean subtracted: black -> -mean, white -> 255 - mean
        np.testing.assert_allclose(x.reshape(-1, 3).min(axis=0), -CAFFE_MEAN_BGR, atol=1e-3)
        np.testing.assert_allclose(x.reshape(-1, 3).max(axis=0), 255 - CAFFE_MEAN_BGR, atol=1e-3)
    np.testing.assert_allclose(
        denormalise(x, spec), extract_face(img, centre_box(img.shape), spec), atol=1e-3
    )


def test_resnet_input_is_bgr(astronaut):
    x = to_model_input(astronaut, FaceBox(177, 67, 93, 93), RGB_224)
    face = extract_face(
        astronaut, crop_box(FaceBox(177, 67, 93, 93), astronaut.shape, 0.2), RGB_224
    )
    np.testing.assert_allclose(x[..., 0] + CAFFE_MEAN_BGR[0], face[..., 2], atol=1e-3)  # blue first


# --- paste_map ----------------------------------------------------------------------------


def test_paste_map_places_a_constant_map_exactly_on_the_crop():
    out = paste_map(np.ones((48, 48)), FaceBox(50, 20, 96, 96), (200, 300, 3), fill=np.nan)
    assert out.shape == (200, 300) and out.dtype == np.float32
    inside = np.zeros((200, 300), dtype=bool)
    inside[20:116, 50:146] = True
    assert np.all(out[inside] == 1.0) and np.all(np.isnan(out[~inside]))


def test_paste_map_inverts_extract_face():
    # A bright square in a photo; find it in the 48x48 input; paste that mask back.
    img = np.full((300, 400, 3), 40, dtype=np.uint8)
    img[120:160, 200:250] = 230
    crop = FaceBox(150, 80, 160, 160)
    face = extract_face(img, crop, GRAY_48)[..., 0]
    mask = paste_map((face > 135).astype(np.float32), crop, img.shape)
    found = mask > 0.5
    truth = img[..., 0] > 135
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.85
    ys, xs = np.nonzero(found)
    assert abs(ys.mean() - 139.5) < 1.5 and abs(xs.mean() - 224.5) < 1.5


def test_paste_map_clips_a_crop_past_the_border():
    ramp = np.tile(np.arange(48, dtype=np.float32), (48, 1))  # value = input column
    out = paste_map(ramp, FaceBox(-20, -10, 96, 96), (100, 100))
    assert np.all(out[:86, :76] >= 9.75)
    np.testing.assert_array_equal(out[86:], 0)
    np.testing.assert_array_equal(out[:, 76:], 0)
    # Photo column 0 is crop column 20, i.e. input column (20 + 0.5) / 2 - 0.5 = 9.75.
    np.testing.assert_allclose(out[:86, 0], 9.75, atol=1e-4)
    assert paste_map(ramp, FaceBox(500, 500, 10, 10), (100, 100)).max() == 0  # no overlap


# --- prepare_image ------------------------------------------------------------------------


def test_prepare_image_on_a_photo_file(tmp_path, astronaut):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(path, quality=92)
    for spec in (GRAY_48, RGB_224):
        prep = prepare_image(path, spec)
        assert prep.status == "face" and prep.face_found and prep.message == "1 face found."
        assert prep.rgb.shape == (512, 512, 3)
        assert len(prep.faces) == len(prep.crops) == 1
        assert prep.crops[0] == crop_box(prep.faces[0], prep.rgb.shape, 0.2)
        assert prep.pixels.shape == (1,) + spec.shape and prep.pixels.dtype == np.uint8
        assert prep.inputs.shape == (1,) + spec.shape and prep.inputs.dtype == np.float32


def test_prepare_image_max_faces_and_array_source(astronaut):
    import cv2

    canvas = np.full((512, 819, 3), 200, dtype=np.uint8)
    canvas[:, :512] = astronaut
    canvas[100:407, 512:] = cv2.resize(astronaut, (307, 307), interpolation=cv2.INTER_AREA)
    both = prepare_image(canvas, GRAY_48, min_size=0.05)
    assert both.n_inputs == 2 and both.message == "2 faces found."
    one = prepare_image(canvas, GRAY_48, min_size=0.05, max_faces=1)
    assert one.n_inputs == 1 and len(one.faces) == 2 and "largest 1 used" in one.message
    np.testing.assert_array_equal(one.pixels[0], both.pixels[0])


def test_no_face_fallbacks(no_face):
    centre = prepare_image(no_face, GRAY_48)
    assert centre.status == "centre" and not centre.face_found
    assert centre.message == "No face found: centre crop used."
    assert centre.faces == [] and centre.crops == [centre_box(no_face.shape)]
    np.testing.assert_array_equal(
        centre.pixels[0], extract_face(no_face, centre_box(no_face.shape), GRAY_48)
    )
    none = prepare_image(no_face, GRAY_48, fallback="none")
    assert (
        none.status == "none"
        and none.pixels.shape == (0, 48, 48, 1)
        and none.inputs.shape == (0, 48, 48, 1)
    )
    with pytest.raises(NoFaceError, match="No face was found in 'ramp.png'.*centre crop"):
        buf = io.BytesIO()
        Image.fromarray(no_face).save(buf, "PNG")
        buf.name = "ramp.png"
        buf.seek(0)
        prepare_image(buf, GRAY_48, fallback="error")
    with pytest.raises(ValueError):
        prepare_image(no_face, GRAY_48, fallback="maybe")


def test_detect_false_takes_the_whole_crop(astronaut):
    prep = prepare_image(astronaut[:, 50:450], RGB_224, detect=False, fallback="error")
    assert prep.status == "whole" and prep.faces == [] and prep.crops == [FaceBox(0, 56, 400, 400)]


def test_prepare_image_passes_image_errors_through(tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(ImageError, match="'notes.txt' is not an image"):
        prepare_image(tmp_path / "notes.txt", GRAY_48)
