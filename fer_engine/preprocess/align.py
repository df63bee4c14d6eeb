"""Face alignment: eyes level, then the usual square crop.

:func:`eye_angle` is the tilt of the line through the eyes (degrees, positive when the
eye on the image's right is lower). :func:`extract_aligned` rotates the photo about the
eye midpoint by that angle so the eyes are level and cuts the same square crop box
:func:`fer_engine.preprocess.crop.crop_box` gives (same place, same side) from the
rotated photo, resized to the model's input: the eyes keep their place in the crop and
the rest of the face turns about them. One affine warp of a region around the crop
does both steps; the photo itself is never rotated whole.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer_engine.preprocess.crop import _cut, finish_crop
from fer_engine.preprocess.faces import FaceBox
from fer_engine.preprocess.spec import InputSpec

#: Whether prediction and training align faces by default (measured: docs/benchmarks.md).
DEFAULT_ALIGN: bool = True
#: Tilts smaller than this (degrees) are left alone: the crop is cut straight.
MIN_ANGLE: float = 1.0
#: Tilts larger than this (degrees) are taken to be wrong landmarks and not corrected.
MAX_ANGLE: float = 45.0


def eye_angle(face: FaceBox) -> float:
    """Tilt of the eye line in degrees (``atan2(dy, dx)`` from the left eye to the right
    one, image y pointing down); 0.0 for a face without landmarks."""
    eyes = face.eyes
    if eyes is None:
        return 0.0
    (lx, ly), (rx, ry) = eyes
    if rx == lx and ry == ly:
        return 0.0
    return math.degrees(math.atan2(ry - ly, rx - lx))


def alignment_angle(face: FaceBox) -> float:
    """The rotation :func:`extract_aligned` applies to ``face`` (0.0: none)."""
    angle = eye_angle(face)
    if abs(angle) < MIN_ANGLE or abs(angle) > MAX_ANGLE:
        return 0.0
    return angle


def rotate_points(points, centre: tuple[float, float], angle: float) -> np.ndarray:
    """``points`` ((n, 2) x, y) rotated as :func:`extract_aligned` rotates the photo."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), 1.0)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ m[:, :2].T + m[:, 2]


def eye_midpoint(face: FaceBox) -> tuple[float, float]:
    """Midpoint of the eyes (the box centre for a face without landmarks)."""
    eyes = face.eyes
    if eyes is None:
        return face.centre
    (lx, ly), (rx, ry) = eyes
    return ((lx + rx) / 2.0, (ly + ry) / 2.0)


def extract_aligned(
    rgb: np.ndarray,
    crop: FaceBox,
    angle: float,
    spec: InputSpec,
    *,
    about: tuple[float, float] | None = None,
) -> np.ndarray:
    """The square ``crop`` of ``rgb`` after rotating ``rgb`` by ``angle`` degrees about
    ``about`` (the eye midpoint, :func:`eye_midpoint`; default the crop's centre),
    resized to ``spec``: (size, size, channels) uint8, as
    :func:`fer_engine.preprocess.crop.extract_face` (which this equals for angle 0).

    Pixels from outside the photo repeat its edge pixels. A crop much larger than the
    model input is first shrunk by area averaging, so the warp does not alias.
    """
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    size = spec.size
    # A square around the crop large enough for any rotation (side * sqrt 2, rounded up).
    side = crop.w
    reach = int(math.ceil(side * 0.75)) + 2
    cx, cy = crop.x + side / 2.0, crop.y + side / 2.0
    if about is not None and angle:
        # The photo point that lands on the crop's centre once rotated about ``about``.
        cx, cy = rotate_points([(cx, cy)], about, -angle)[0]
    region_box = FaceBox(int(math.floor(cx)) - reach, int(math.floor(cy)) - reach,
                         2 * reach, 2 * reach)
    region = _cut(a, region_box)
    ox, oy = cx - region_box.x, cy - region_box.y  # crop centre in the region
    shrink = min(1.0, 2.0 * size / side)
    if shrink < 1.0:
        rs = max(1, int(round(region.shape[0] * shrink)))
        region = cv2.resize(region, (rs, rs), interpolation=cv2.INTER_AREA)
        shrink = rs / (2 * reach)
        ox, oy = ox * shrink, oy * shrink
    scale = size / (side * shrink)
    m = cv2.getRotationMatrix2D((ox, oy), float(angle), scale)
    m[0, 2] += size / 2.0 - ox
    m[1, 2] += size / 2.0 - oy
    # Pixel centres: cv2 maps pixel indices; shift by half a pixel in and out.
    m[:, 2] += (m[:, 0] + m[:, 1]) * 0.5 - 0.5
    out = cv2.warpAffine(
        np.ascontiguousarray(region), m, (size, size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return finish_crop(out, spec)
