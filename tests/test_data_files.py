"""The cheap readability check of dataset files: declared image sizes (decompression bombs)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from data_builders import class_folders, write_image
from PIL import Image

from fer_engine.data import load_dataset
from fer_engine.data.files import check_files, declared_size, file_entry
from fer_engine.preprocess.decode import MAX_PIXELS


def png_declaring(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header (IHDR, with a correct CRC) claims ``width x height``."""
    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def jpeg_declaring(width: int, height: int, padding: int = 0) -> bytes:
    """A tiny JPEG whose start-of-frame claims ``width x height``, after an APP15 segment of
    ``padding`` bytes (as a large EXIF block would push it further into the file)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    if padding:
        app = b"\xff\xef" + struct.pack(">H", padding + 2) + b"\x00" * padding
        data[2:2] = app
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def entries(folder: Path):
    import os

    return [file_entry(e) for e in os.scandir(folder) if e.is_file()]


def test_declared_size_of_ordinary_images(tmp_path):
    for name in ("a.jpg", "b.png"):
        path = write_image(tmp_path / name, size=(40, 30))
        assert declared_size(path.read_bytes()[:4096]) == (40, 30)
    assert declared_size(jpeg_declaring(300, 200, padding=100)) == (300, 200)
    assert declared_size(jpeg_declaring(300, 200, padding=10_000)[:4096]) is None  # further in
    assert declared_size(b"GIF89a" + b"\x00" * 40) is None


@pytest.mark.parametrize("make", [
    lambda: png_declaring(100_000, 100_000),          # the size in the first bytes
    lambda: jpeg_declaring(65_000, 65_000),           # the same for a JPEG
    lambda: jpeg_declaring(8_000, 8_000, 10_000),     # above our limit, behind a large block
], ids=["png", "jpeg", "jpeg-deep"])
@pytest.mark.parametrize("check", ["quick", "full"])
def test_an_image_declaring_too_many_pixels_is_unreadable(tmp_path, make, check):
    data = make()
    (tmp_path / "bomb.img").write_bytes(data)
    ok = write_image(tmp_path / "ok.jpg", size=(48, 48))
    result = check_files(entries(tmp_path), check)
    assert list(result.unreadable) == [str(tmp_path / "bomb.img")]
    assert "decompression bomb" in result.unreadable[str(tmp_path / "bomb.img")]
    assert str(ok) not in result.unreadable


def test_the_limit_is_the_decoders(tmp_path):
    side = int(MAX_PIXELS**0.5)
    (tmp_path / "at.png").write_bytes(png_declaring(side, side))  # at the limit: the header passes
    (tmp_path / "over.png").write_bytes(png_declaring(side + 1, side + 1))
    result = check_files(entries(tmp_path), "quick")
    assert list(result.unreadable) == [str(tmp_path / "over.png")]
    assert f"{side + 1} x {side + 1} pixels" in result.unreadable[str(tmp_path / "over.png")]


def test_a_bomb_in_a_dataset_is_left_out_with_a_warning(tmp_path):
    class_folders(tmp_path, {"": {"angry": 2, "happy": 2}})
    (tmp_path / "happy" / "huge.png").write_bytes(png_declaring(100_000, 100_000))
    ds = load_dataset(tmp_path)
    assert ds.n_images == 4
    (warning,) = [i for i in ds.issues if i.code == "corrupt_image"]
    assert "happy/huge.png" in warning.message and "100000 x 100000 pixels" in warning.message


def test_the_dataset_check_and_the_decoder_give_the_same_size_rule():
    from fer_engine.data.files import _size_problem
    from fer_engine.preprocess.decode import MAX_PIXELS, size_problem

    assert _size_problem(8_000, MAX_PIXELS // 8_000) is None
    assert _size_problem(8_000, MAX_PIXELS // 8_000 + 1) == size_problem(8_000, MAX_PIXELS // 8_000 + 1)
    assert "decompression bomb" in size_problem(100_000, 100_000, "'x.png'")
