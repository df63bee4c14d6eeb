"""decode_image: every image kind, orientation, and every way a file can be refused."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from fer_engine.errors import ImageError, UserFacingError
from fer_engine.preprocess import BACKGROUND, decode_image
from fer_engine.preprocess import decode as decode_module

W, H = 40, 32
#: Quadrant colours: top-left, top-right, bottom-left, bottom-right.
COLOURS = np.array([[220, 30, 30], [30, 200, 40], [20, 40, 210], [240, 240, 120]], dtype=np.uint8)
GRAYS = np.array([30, 90, 160, 230], dtype=np.uint8)
#: A pixel well inside each quadrant (row, col), away from JPEG's blurred edges.
PROBES = [(8, 10), (8, 30), (24, 10), (24, 30)]


def quadrants(values: np.ndarray) -> np.ndarray:
    """(H, W[, C]) image whose four quadrants hold ``values[0..3]``."""
    out = np.zeros((H, W) + values.shape[1:], dtype=values.dtype)
    out[: H // 2, : W // 2] = values[0]
    out[: H // 2, W // 2 :] = values[1]
    out[H // 2 :, : W // 2] = values[2]
    out[H // 2 :, W // 2 :] = values[3]
    return out


def expected_rgb(mode: str) -> np.ndarray:
    """The four colours decode_image must return for a quadrant image saved in ``mode``."""
    if mode == "L":
        return np.repeat(GRAYS[:, None], 3, axis=1)
    return COLOURS


def make_image(mode: str) -> Image.Image:
    if mode == "L":
        return Image.fromarray(quadrants(GRAYS), "L")
    rgb = Image.fromarray(quadrants(COLOURS), "RGB")
    if mode == "RGB":
        return rgb
    if mode == "P":
        return rgb.quantize(colors=4)
    if mode == "RGBA":
        return rgb.convert("RGBA")  # fully opaque: colours must come back unchanged
    raise ValueError(mode)


LOSSLESS = {"PNG": {}, "BMP": {}, "WEBP": {"lossless": True}}
CASES = [
    ("PNG", "L"),
    ("PNG", "RGB"),
    ("PNG", "RGBA"),
    ("PNG", "P"),
    ("BMP", "L"),
    ("BMP", "RGB"),
    ("BMP", "P"),
    ("WEBP", "RGB"),
    ("WEBP", "RGBA"),
    ("WEBP", "L"),
    ("JPEG", "L"),
    ("JPEG", "RGB"),
]


@pytest.mark.parametrize("fmt,mode", CASES)
def test_every_format_and_mode_decodes_to_upright_rgb(tmp_path, fmt, mode):
    path = tmp_path / f"img_{mode}.{fmt.lower()}"
    make_image(mode).save(path, fmt, **LOSSLESS.get(fmt, {"quality": 95}))
    rgb = decode_image(path)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    tol = 0 if fmt in LOSSLESS else 12
    for (r, c), colour in zip(PROBES, expected_rgb(mode)):
        assert np.abs(rgb[r, c].astype(int) - colour).max() <= tol, (fmt, mode, r, c, rgb[r, c])


def test_lossy_webp(tmp_path):
    path = tmp_path / "lossy.webp"
    make_image("RGB").save(path, "WEBP", quality=90)
    rgb = decode_image(path)
    for (r, c), colour in zip(PROBES, COLOURS):
        assert np.abs(rgb[r, c].astype(int) - colour).max() <= 20


def test_path_str_bytes_and_file_like_give_the_same_pixels(tmp_path):
    path = tmp_path / "a.png"
    make_image("RGB").save(path)
    data = path.read_bytes()
    a = decode_image(path)
    with open(path, "rb") as f:
        for other in (
            decode_image(str(path)),
            decode_image(data),
            decode_image(bytearray(data)),
            decode_image(io.BytesIO(data)),
            decode_image(f),
        ):
            np.testing.assert_array_equal(a, other)


def test_alpha_is_composited_on_the_neutral_background(tmp_path):
    rgba = np.zeros((H, W, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 20, 60)
    rgba[:, : W // 2, 3] = 0  # left half transparent
    rgba[:, W // 2 :, 3] = 255  # right half opaque
    rgba[0:4, W // 2 :, 3] = 128  # a half-transparent strip
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    rgb = decode_image(path)
    np.testing.assert_array_equal(rgb[10, 5], BACKGROUND)
    np.testing.assert_array_equal(rgb[10, 30], (200, 20, 60))
    half = (np.array([200, 20, 60]) * 128 + np.array(BACKGROUND) * 127) / 255
    assert np.abs(rgb[2, 30].astype(float) - half).max() <= 1.0


def test_palette_with_transparency_and_gray_alpha(tmp_path):
    p = Image.new("P", (W, H), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p.paste(1, (W // 2, 0, W, H))
    p.save(tmp_path / "p.png", transparency=0)
    rgb = decode_image(tmp_path / "p.png")
    np.testing.assert_array_equal(rgb[5, 5], BACKGROUND)  # index 0 is transparent
    np.testing.assert_array_equal(rgb[5, 30], (0, 0, 255))
    la = Image.fromarray(
        np.dstack([np.full((H, W), 50, np.uint8), np.full((H, W), 255, np.uint8)]), "LA"
    )
    la.save(tmp_path / "la.png")
    np.testing.assert_array_equal(decode_image(tmp_path / "la.png")[3, 3], (50, 50, 50))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gray_is_scaled_down_not_clipped(tmp_path, fmt):
    values = np.array([0, 257 * 64, 257 * 128, 65535], dtype=np.uint16)
    img16 = quadrants(values)
    path = tmp_path / f"deep.{fmt.lower()}"
    Image.fromarray(img16).save(path, fmt)
    assert Image.open(path).mode.startswith("I")  # really stored as 16-bit
    rgb = decode_image(path)
    for (r, c), want in zip(PROBES, (0, 64, 128, 255)):
        np.testing.assert_array_equal(rgb[r, c], (want, want, want))
    ramp = np.tile(np.linspace(0, 65535, W).astype(np.uint16), (H, 1))
    Image.fromarray(ramp).save(path, fmt)
    got = decode_image(path)[0, :, 0].astype(int)
    np.testing.assert_array_equal(got, np.round(ramp[0] / 257).astype(int))


def test_16_bit_colour_png_is_scaled_down(tmp_path):
    import cv2

    rgb16 = np.zeros((H, W, 3), dtype=np.uint16)
    rgb16[:, : W // 2] = (60000, 30000, 1000)
    rgb16[:, W // 2 :] = (65535, 257 * 128, 0)
    rgba16 = np.dstack([rgb16, np.full((H, W), 65535, np.uint16)])
    for name, pixels in (("rgb16.png", rgb16), ("rgba16.png", rgba16)):
        cv2.imwrite(
            str(tmp_path / name), pixels[..., [2, 1, 0, 3][: pixels.shape[2]]]
        )  # OpenCV wants BGR
        rgb = decode_image(tmp_path / name).astype(int)
        assert np.abs(rgb[5, 5] - np.round(np.array([60000, 30000, 1000]) / 257)).max() <= 1
        assert np.abs(rgb[5, 30] - np.array([255, 128, 0])).max() <= 1


def test_exif_orientation_is_honoured(tmp_path):
    # Stored 60 wide x 40 high, red block in the stored top-left corner.
    stored = np.full((40, 60, 3), 255, dtype=np.uint8)
    stored[:10, :10] = (255, 0, 0)
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: the viewer rotates the picture 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    rgb = decode_image(path)
    assert rgb.shape == (60, 40, 3)  # now 40 wide, 60 high
    # Rotating clockwise takes the top-left corner to the top-right corner.
    assert rgb[3:7, -7:-3].mean(axis=(0, 1))[0] > 200 and rgb[3:7, -7:-3].mean(axis=(0, 1))[1] < 60
    assert rgb[3:7, 3:7].min() > 200  # the top-left is white
    assert rgb[-7:-3, -7:-3].min() > 200


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(quadrants(COLOURS)).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    rgb = decode_image(tmp_path / "c.jpg")
    for (r, c), colour in zip(PROBES, COLOURS):
        assert np.abs(rgb[r, c].astype(int) - colour).max() <= 16


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header (IHDR, with a correct CRC) claims ``width x height``."""
    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize("side", [8_000, 100_000])  # 64 MP (our limit), 10 GP (Pillow's bomb guard)
def test_decompression_bomb_is_refused_from_the_header(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_declared_size(side, side))
    start = time.perf_counter()
    with pytest.raises(ImageError, match="megapixels") as info:
        decode_image(path)
    assert time.perf_counter() - start < 1.0  # nothing was decoded
    assert "'bomb.png'" in str(info.value)


def test_file_above_the_byte_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(
        path
    )
    monkeypatch.setattr(decode_module, "MAX_FILE_BYTES", 10_000)
    for source in (path, path.read_bytes(), io.BytesIO(path.read_bytes())):
        with pytest.raises(ImageError, match="larger than|MB"):
            decode_image(source)


def test_tiny_image_is_refused(tmp_path):
    Image.new("RGB", (10, 40)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageError, match=r"10 x 40 pixels.*at least 16"):
        decode_image(tmp_path / "tiny.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "ok.png")
    assert decode_image(tmp_path / "ok.png").shape == (16, 16, 3)


def _valid_jpeg(tmp_path) -> bytes:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "v.jpg", quality=90
    )
    return (tmp_path / "v.jpg").read_bytes()


@pytest.mark.parametrize(
    "kind",
    ["truncated_jpeg", "truncated_png", "garbage_after_header", "text", "empty", "random_bytes"],
)
def test_broken_files_raise_a_clear_image_error(tmp_path, kind):
    jpeg = _valid_jpeg(tmp_path)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64), dtype=np.uint8)).save(
        buf, "PNG"
    )
    content = {
        "truncated_jpeg": jpeg[: len(jpeg) // 2],
        "truncated_png": buf.getvalue()[: len(buf.getvalue()) // 2],
        "garbage_after_header": jpeg[:200] + bytes(range(256)) * 8,
        "text": b"participant,emotion\n1,happy\n",
        "empty": b"",
        "random_bytes": np.random.default_rng(3).integers(0, 255, 5000, dtype=np.uint8).tobytes(),
    }[kind]
    path = tmp_path / f"{kind}.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        decode_image(path)
    message = str(info.value)
    assert isinstance(info.value, UserFacingError)
    assert f"'{kind}.jpg'" in message and message.endswith(".") and "\n" not in message


def test_missing_file_folder_and_unsupported_format(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        decode_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        decode_image(tmp_path)
    Image.new("RGB", (32, 32)).save(tmp_path / "x.ppm")
    with pytest.raises(ImageError, match="supported formats are JPEG"):
        decode_image(tmp_path / "x.ppm")


def test_text_mode_file_and_wrong_type(tmp_path):
    (tmp_path / "t.txt").write_text("hello")
    with open(tmp_path / "t.txt") as f, pytest.raises(ImageError, match="as text"):
        decode_image(f)
    with pytest.raises(TypeError):
        decode_image(12345)
