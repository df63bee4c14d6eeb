"""Decode any common image file into an (H, W, 3) uint8 RGB array, safely.

The header is read first and the declared size checked against the limits below
before a single pixel is decoded, so a small file that claims to be a gigapixel
image (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer_engine.errors import ImageError

#: Largest image accepted, in pixels (width x height) as declared in the header.
MAX_PIXELS: int = 50_000_000
#: Largest file accepted, in bytes.
MAX_FILE_BYTES: int = 100 * 1024 * 1024
#: Smallest accepted side in pixels; below this there is no face to see.
MIN_SIDE: int = 16
#: Formats accepted (Pillow's names). MPO is what some cameras call their JPEGs.
FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF")
SUPPORTED = "JPEG, PNG, WebP, BMP, GIF and TIFF"
#: File name endings of those formats (what an upload box offers).
EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")
#: The neutral gray that transparent areas are composited onto (RGB).
BACKGROUND: tuple[int, int, int] = (128, 128, 128)

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


def describe_source(source: object) -> str:
    """A short human name for an image source, for messages ("'cat.png'", "the image")."""
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.path.basename(os.fspath(source))}'"
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return f"'{os.path.basename(name)}'"
    return "the image"


def _read_bytes(source: ImageSource, label: str) -> bytes:
    """All bytes of ``source``, refusing files larger than :data:`MAX_FILE_BYTES`."""
    limit_mb = MAX_FILE_BYTES // (1024 * 1024)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_FILE_BYTES:
                    raise ImageError(
                        f"The file {label} is {size / 1024 / 1024:.0f} MB; images larger than "
                        f"{limit_mb} MB are refused."
                    )
                return f.read()
        except ImageError:
            raise
        except IsADirectoryError:
            raise ImageError(f"{label} is a folder, not an image file.") from None
        except FileNotFoundError:
            raise ImageError(f"The image file {label} does not exist ({path}).") from None
        except OSError as exc:
            raise ImageError(
                f"The image file {label} cannot be read: {exc.strerror or exc}."
            ) from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(MAX_FILE_BYTES + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"{label} was opened as text; an image must be read as bytes.")
        data = bytes(data)
    else:
        raise TypeError(
            f"decode_image takes a path, bytes or a binary file, not {type(source).__name__}"
        )
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"The file {label} is larger than {limit_mb} MB; such images are refused.")
    return data


def size_problem(width: int, height: int, label: str = "the image") -> str | None:
    """Why an image declaring ``width`` x ``height`` pixels is refused (a sentence naming
    ``label``); None when it is within :data:`MAX_PIXELS`. The one rule for decoding and for
    the dataset checks."""
    if width * height <= MAX_PIXELS:
        return None
    return (f"{label} declares {width} x {height} pixels ({width * height / 1e6:.0f} "
            f"megapixels); images above {MAX_PIXELS / 1e6:.0f} megapixels are refused to "
            "protect the computer's memory (a possible decompression bomb).")


def _check_header(img: Image.Image, label: str) -> None:
    """Refuse unsupported formats and absurd declared sizes before decoding."""
    if img.format not in FORMATS:
        raise ImageError(f"{label} is a {img.format} image; supported formats are {SUPPORTED}.")
    w, h = img.size
    too_large = size_problem(w, h, label)
    if too_large:
        raise ImageError(too_large)
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"{label} is only {w} x {h} pixels; images need at least {MIN_SIDE} pixels "
            "on each side."
        )


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB. 16-bit is scaled (65535 -> 255), alpha composited."""
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(img)
        if mode == "F":
            a = a * 255.0 if float(np.nanmax(a, initial=0.0)) <= 1.0 else a
            gray = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
        else:  # 16-bit (I;16*), or 32-bit "I" that Pillow uses for 16-bit PNG/TIFF
            gray = (np.clip(a.astype(np.float64), 0, 65535) / 257.0 + 0.5).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return np.array(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode != "RGB":
        img = img.convert("RGB")
    return np.array(img)


def decode_image(source: ImageSource) -> np.ndarray:
    """Decode ``source`` (a path, bytes or a binary file-like) into (H, W, 3) uint8 RGB.

    Gray, palette, CMYK and 16-bit images are converted (16-bit scaled by 1/257);
    transparency is composited onto :data:`BACKGROUND`; EXIF orientation is applied,
    so the array is upright as a photo viewer shows it. For animated files the first
    frame is used.

    Raises :class:`fer_engine.errors.ImageError` for missing files, non-images,
    corrupt or truncated files, unsupported formats, files above
    :data:`MAX_FILE_BYTES`, images above :data:`MAX_PIXELS` (checked from the header,
    before decoding) and images with a side below :data:`MIN_SIDE`.
    """
    label = describe_source(source)
    data = _read_bytes(source, label)
    if not data:
        raise ImageError(f"The file {label} is empty.")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageError(
            f"{label} declares far more pixels than any photo; it is refused as a possible "
            f"decompression bomb (limit {MAX_PIXELS / 1e6:.0f} megapixels)."
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{label} is not an image this tool can read (supported: {SUPPORTED})."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label} is damaged and cannot be read ({exc}).") from None
    with img:
        _check_header(img, label)
        try:
            img.load()
            try:
                upright = ImageOps.exif_transpose(img)
            except (OSError, SyntaxError, ValueError, KeyError, TypeError, AttributeError):
                upright = img  # unreadable EXIF block: keep the stored orientation
            return _to_rgb(upright)
        except Image.DecompressionBombError:
            raise ImageError(f"{label} is refused as a possible decompression bomb.") from None
        except MemoryError:
            raise ImageError(f"{label} is too large to decode with the memory available.") from None
        except Exception as exc:  # Pillow's plugins raise many types on crafted or broken files
            reason = "it is truncated" if "truncated" in str(exc) else str(exc)
            raise ImageError(f"{label} is damaged and cannot be decoded: {reason}.") from None
