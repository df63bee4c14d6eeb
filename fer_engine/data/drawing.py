"""Soft-edged vector drawing on a float RGB canvas (OpenCV + NumPy) for the synthetic faces.

Shapes are drawn into (H, W) float32 masks with anti-aliased edges (sub-pixel
coordinates, OpenCV ``shift=4``); a :class:`Mask` remembers the box it was drawn in, so
painting costs scale with the shape, not the canvas. Coordinates are pixels, x right,
y down.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np


@functools.lru_cache(maxsize=4)
def grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates, (height, width) float32 each (read-only, shared)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx.flags.writeable = False
    yy.flags.writeable = False
    return xx, yy


class Canvas:
    """Float RGB canvas with soft masks; all drawing goes through masks for smooth edges."""

    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.img = np.zeros((height, width, 3), np.float32)
        self.xx, self.yy = grid(width, height)

    def mask(self) -> "Mask":
        m = np.zeros((self.h, self.w), np.float32).view(Mask)
        m.box = None
        return m

    def _roi(self, mask: np.ndarray, blur: float):
        """Slices of the box holding the (blurred) mask, so paint costs scale with its size."""
        box = getattr(mask, "box", None)
        if box is None:
            x, y, w, h = cv2.boundingRect((np.asarray(mask) > 0).astype(np.uint8))
            if w == 0 or h == 0:
                return None
            box = (x, y, x + w, y + h)
        pad = int(math.ceil(3 * blur)) + 1
        y0, y1 = max(0, int(box[1]) - pad), min(self.h, int(math.ceil(box[3])) + pad)
        x0, x1 = max(0, int(box[0]) - pad), min(self.w, int(math.ceil(box[2])) + pad)
        if y1 <= y0 or x1 <= x0:
            return None
        return (slice(y0, y1), slice(x0, x1))

    def _local(self, mask: np.ndarray, blur: float):
        roi = self._roi(mask, blur)
        if roi is None:
            return None, None
        m = np.asarray(mask)[roi]
        if blur > 0:
            m = cv2.GaussianBlur(m, (0, 0), blur)
        return roi, np.clip(m, 0, 1, out=m if blur > 0 else None)[..., None]

    def paint(self, mask: np.ndarray, color, alpha: float = 1.0, blur: float = 0.0) -> None:
        """Blend ``color`` (RGB 0..255) over the pixels under ``mask`` (0..1, soft edges)."""
        roi, m = self._local(mask, blur)
        if roi is not None:
            if alpha != 1.0:
                m *= np.float32(alpha)
            region = self.img[roi]
            delta = np.asarray(color, np.float32) - region
            delta *= m
            region += delta

    def shade(self, mask: np.ndarray, factor: float, blur: float = 0.0) -> None:
        """Multiply the pixels under ``mask`` by ``factor`` (darken < 1 < lighten)."""
        roi, m = self._local(mask, blur)
        if roi is not None:
            m *= np.float32(factor - 1)
            m += np.float32(1)
            self.img[roi] *= m


def row(y: float) -> int:
    """Pixel row (or column) index of a coordinate, for cheap slicing."""
    return max(0, int(math.ceil(y)))


class Mask(np.ndarray):
    """An (H, W) float32 mask that remembers the box it was drawn in: ``box`` = (x0, y0, x1, y1).

    Products and copies keep the box of an operand, which still holds their support.
    """

    def __array_finalize__(self, obj):
        self.box = getattr(obj, "box", None)


def grow(mask, points, pad: float) -> None:
    if isinstance(mask, Mask):
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        lo, hi = pts.min(axis=0) - pad - 1, pts.max(axis=0) + pad + 1
        box = (lo[0], lo[1], hi[0], hi[1])
        if mask.box is not None:
            box = (
                min(box[0], mask.box[0]),
                min(box[1], mask.box[1]),
                max(box[2], mask.box[2]),
                max(box[3], mask.box[3]),
            )
        mask.box = box


def within(mask: "Mask", other: np.ndarray) -> "Mask":
    """Limit ``mask`` to where ``other`` is drawn (in place, inside ``mask``'s box only)."""
    if mask.box is None:
        return mask
    x0, y0 = max(0, int(mask.box[0])), max(0, int(mask.box[1]))
    x1, y1 = int(math.ceil(mask.box[2])) + 1, int(math.ceil(mask.box[3])) + 1
    region = np.asarray(mask)[y0:y1, x0:x1]
    region *= np.asarray(other)[y0:y1, x0:x1]
    return mask


def pts(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * 16).astype(np.int32)


def fill(mask, points):
    cv2.fillPoly(np.asarray(mask), [pts(points)], 1.0, cv2.LINE_AA, shift=4)
    grow(mask, points, 0)
    return mask


def line(mask, points, thickness):
    cv2.polylines(
        np.asarray(mask),
        [pts(points)],
        False,
        1.0,
        max(1, int(round(thickness))),
        cv2.LINE_AA,
        shift=4,
    )
    grow(mask, points, thickness / 2 + 1)
    return mask


def ellipse(mask, center, axes, angle=0.0):
    c = (int(round(center[0] * 16)), int(round(center[1] * 16)))
    a = (max(1, int(round(axes[0] * 16))), max(1, int(round(axes[1] * 16))))
    cv2.ellipse(np.asarray(mask), c, a, angle, 0, 360, 1.0, -1, cv2.LINE_AA, shift=4)
    r = max(axes)
    grow(mask, [(center[0] - r, center[1] - r), (center[0] + r, center[1] + r)], 0)
    return mask


def curve(p0, p1, p2, n=16):
    """Quadratic Bezier from p0 to p2 pulled toward p1; (n, 2) points."""
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def through(p0, mid, p2, n=20):
    """Quadratic Bezier from p0 to p2 passing through ``mid`` at its half-way point."""
    ctrl = (2 * mid[0] - (p0[0] + p2[0]) / 2, 2 * mid[1] - (p0[1] + p2[1]) / 2)
    return curve(p0, ctrl, p2, n)
