"""The synthetic demo dataset: procedurally drawn faces in the Kaggle tapakah68 layout.

The study's photos cannot be shipped, so the dashboard's default data is drawn here:
``images/<set_id>/<Emotion>.jpg`` (Kaggle file names: Anger, Contempt, Disgust, Fear,
Happy, Neutral, Sad, Surprised) plus ``emotions.csv`` (set_id;gender;age;country) and a
``SYNTHETIC.txt`` marker that the reader recognises (``Dataset.synthetic``).

Each image is a 320x400 (width x height) RGB "portrait": a face inside a larger frame
with hair, neck, shoulders and a background, like a photo of a person, not a face crop.

- Expression: eight expressions with distinct geometric cues (brows, eyes, mouth, nose
  wrinkles; contempt is a one-sided smirk), drawn at a random intensity.
- Identity (per participant, seeded): face shape, skin tone, hair style and colour,
  eye/brow/mouth geometry, glasses, beard, moles, background and clothing, plus a
  personal "resting face" bias and expressiveness, so one person's neutral may look
  like another's sad (what makes leave-one-subject-out evaluation hard).
- Nuisance (per image): small roll, yaw shift, scale and position, lighting gradient,
  blur, sensor noise and JPEG compression.

Everything is a pure function of the seed, the set_id and the metadata row, so the same
arguments give byte-identical files on the same OpenCV/NumPy build.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_engine.data.readers import MARKER, read_marker  # noqa: F401 (re-exported)
from fer_engine.emotions import EMOTIONS

#: Bump when the drawing changes: it is part of the cache key.
GENERATOR_VERSION = 1

#: Portrait size in pixels.
WIDTH, HEIGHT = 320, 400

#: The Kaggle tapakah68 file stem of each canonical emotion.
KAGGLE_NAMES: dict[str, str] = {
    "anger": "Anger",
    "contempt": "Contempt",
    "disgust": "Disgust",
    "fear": "Fear",
    "happy": "Happy",
    "neutral": "Neutral",
    "sad": "Sad",
    "surprise": "Surprised",
}

DEFAULT_METADATA = Path(__file__).with_name("default_metadata.csv")


# --------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Expression:
    """Displacements from a neutral face, in face-relative units (at full intensity).

    ``brow_raise``: whole brow up (+). ``brow_inner``: inner brow end up (+) or down (-).
    ``eye_open``: change of eye opening (+ wide, - narrowed). ``lid_lower``: lower lid
    raised (cheek squint). ``mouth_open``: jaw drop. ``mouth_curve``: both corners up (+)
    or down (-). ``mouth_width``: corners pulled out (+) or pursed (-). ``smirk``: the
    right corner alone up and out. ``lip_raise``: upper lip raised (disgust).
    ``nose_wrinkle``: wrinkles on the nose bridge. ``teeth``: show the upper teeth.
    ``press``: lips pressed thin.
    """

    brow_raise: float = 0.0
    brow_inner: float = 0.0
    eye_open: float = 0.0
    lid_lower: float = 0.0
    mouth_open: float = 0.0
    mouth_curve: float = 0.0
    mouth_width: float = 0.0
    smirk: float = 0.0
    lip_raise: float = 0.0
    nose_wrinkle: float = 0.0
    teeth: float = 0.0
    press: float = 0.0


EXPRESSIONS: dict[str, Expression] = {
    "neutral": Expression(),
    "happy": Expression(
        mouth_curve=1.0,
        mouth_width=0.35,
        mouth_open=0.35,
        teeth=1.0,
        lid_lower=0.55,
        eye_open=-0.15,
        brow_raise=0.05,
    ),
    "sad": Expression(
        brow_inner=0.9, brow_raise=-0.1, mouth_curve=-0.85, eye_open=-0.3, mouth_width=-0.1
    ),
    "anger": Expression(
        brow_raise=-0.7, brow_inner=-1.0, eye_open=0.15, press=1.0, mouth_width=-0.2, lid_lower=0.25
    ),
    "fear": Expression(
        brow_raise=0.6,
        brow_inner=0.7,
        eye_open=0.75,
        mouth_open=0.45,
        mouth_width=0.45,
        mouth_curve=-0.25,
    ),
    "surprise": Expression(
        brow_raise=1.0, brow_inner=0.15, eye_open=0.7, mouth_open=1.0, mouth_width=-0.35
    ),
    "disgust": Expression(
        brow_raise=-0.35,
        brow_inner=-0.4,
        nose_wrinkle=1.0,
        lip_raise=1.0,
        mouth_curve=-0.3,
        eye_open=-0.35,
        lid_lower=0.5,
        teeth=0.6,
    ),
    "contempt": Expression(smirk=1.0, eye_open=-0.15, brow_raise=-0.05),
}


# --------------------------------------------------------------------------- identity
@dataclass(frozen=True)
class Identity:
    """Everything that stays the same across one participant's photos."""

    face_w: float  # half width of the face in pixels
    face_h: float  # half height
    jaw: float  # 0 round .. 0.35 pointed chin
    skin: tuple[float, float, float]  # RGB 0..255
    hair: tuple[float, float, float]
    hair_style: str  # short, long, bun, bald, fringe
    hairline: float  # face-relative height of the hairline
    eye_dx: float  # face-relative half distance between the eyes
    eye_size: float
    iris: tuple[float, float, float]
    brow_thick: float
    brow_y: float
    nose_len: float
    mouth_w: float
    lip: tuple[float, float, float]
    glasses: bool
    beard: float  # 0 none .. 1 full
    moles: tuple[tuple[float, float], ...]
    wrinkles: float  # 0 .. 1, grows with age
    background: tuple[float, float, float]
    background2: tuple[float, float, float]
    clothes: tuple[float, float, float]
    rest: Expression  # personal resting-face bias
    expressiveness: float


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (stable across processes)."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _mix(a, b, t):
    return tuple(float(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def make_identity(
    seed: int, set_id: str, gender: str | None, age: float | None, difficulty: float = 1.0
) -> Identity:
    """The seeded look of one participant; ``gender``/``age`` shape hair, beard, wrinkles."""
    r = _rng(seed, "identity", set_id)
    female = str(gender).lower() == "female"
    age = float(age) if age is not None and not pd.isna(age) else 30.0
    skin = _mix((250, 214, 190), (120, 78, 52), r.uniform(0, 1) ** 1.3)
    hair_palette = [(30, 24, 20), (70, 45, 28), (120, 80, 45), (190, 150, 90), (95, 35, 20)]
    hair = hair_palette[int(r.integers(len(hair_palette)))]
    if age > 40:
        hair = _mix(hair, (160, 160, 160), r.uniform(0.2, 0.6))
    if female:
        style = str(r.choice(["long", "long", "bun", "fringe", "short"]))
    else:
        style = str(r.choice(["short", "short", "fringe", "bald", "long"]))
    iris = [(60, 40, 25), (40, 70, 110), (70, 90, 60), (30, 25, 20)][int(r.integers(4))]
    bg = tuple(float(v) for v in r.uniform(60, 225, 3))
    bg2 = tuple(float(np.clip(v + r.normal(0, 40), 30, 240)) for v in bg)
    rest_scale = 0.1 * difficulty
    rest = Expression(
        brow_raise=float(r.normal(0, rest_scale)),
        brow_inner=float(r.normal(0, rest_scale)),
        eye_open=float(r.normal(0, rest_scale)),
        mouth_curve=float(r.normal(0, rest_scale)),
        mouth_width=float(r.normal(0, rest_scale)),
        mouth_open=float(abs(r.normal(0, rest_scale * 0.5))),
    )
    n_moles = int(r.integers(0, 3))
    return Identity(
        face_w=float(r.uniform(68, 80)),
        face_h=float(r.uniform(88, 102)),
        jaw=float(r.uniform(0.05, 0.32)),
        skin=skin,
        hair=hair,
        hair_style=style,
        hairline=float(r.uniform(-0.62, -0.5)),
        eye_dx=float(r.uniform(0.33, 0.42)),
        eye_size=float(r.uniform(0.9, 1.15)),
        iris=iris,
        brow_thick=float(r.uniform(4.5, 8.0) * (0.85 if female else 1.1)),
        brow_y=float(r.uniform(-0.36, -0.28)),
        nose_len=float(r.uniform(0.22, 0.34)),
        mouth_w=float(r.uniform(0.36, 0.46)),
        lip=_mix(
            tuple(0.7 * c for c in skin),
            (140, 40, 55) if female else (110, 55, 55),
            r.uniform(0.4, 0.8),
        ),
        glasses=bool(r.uniform() < 0.3),
        beard=float(r.uniform(0.4, 1.0)) if (not female and r.uniform() < 0.45) else 0.0,
        moles=tuple(
            (float(r.uniform(-0.6, 0.6)), float(r.uniform(-0.2, 0.7))) for _ in range(n_moles)
        ),
        wrinkles=float(np.clip((age - 30) / 25, 0, 1)),
        background=bg,
        background2=bg2,
        clothes=tuple(float(v) for v in r.uniform(20, 230, 3)),
        rest=rest,
        expressiveness=float(r.uniform(1 - 0.2 * difficulty, 1.0)),
    )


# --------------------------------------------------------------------------- drawing
@functools.lru_cache(maxsize=4)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates, (height, width) float32 each (read-only, shared)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx.flags.writeable = False
    yy.flags.writeable = False
    return xx, yy


class _Canvas:
    """Float RGB canvas with soft masks; all drawing goes through masks for smooth edges."""

    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.img = np.zeros((height, width, 3), np.float32)
        self.xx, self.yy = _grid(width, height)

    def mask(self) -> "_Mask":
        m = np.zeros((self.h, self.w), np.float32).view(_Mask)
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


def _row(y: float) -> int:
    """Pixel row (or column) index of a coordinate, for cheap slicing."""
    return max(0, int(math.ceil(y)))


class _Mask(np.ndarray):
    """An (H, W) float32 mask that remembers the box it was drawn in: ``box`` = (x0, y0, x1, y1).

    Products and copies keep the box of an operand, which still holds their support.
    """

    def __array_finalize__(self, obj):
        self.box = getattr(obj, "box", None)


def _grow(mask, points, pad: float) -> None:
    if isinstance(mask, _Mask):
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


def _within(mask: "_Mask", other: np.ndarray) -> "_Mask":
    """Limit ``mask`` to where ``other`` is drawn (in place, inside ``mask``'s box only)."""
    if mask.box is None:
        return mask
    x0, y0 = max(0, int(mask.box[0])), max(0, int(mask.box[1]))
    x1, y1 = int(math.ceil(mask.box[2])) + 1, int(math.ceil(mask.box[3])) + 1
    region = np.asarray(mask)[y0:y1, x0:x1]
    region *= np.asarray(other)[y0:y1, x0:x1]
    return mask


def _pts(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * 16).astype(np.int32)


def _fill(mask, points):
    cv2.fillPoly(np.asarray(mask), [_pts(points)], 1.0, cv2.LINE_AA, shift=4)
    _grow(mask, points, 0)
    return mask


def _line(mask, points, thickness):
    cv2.polylines(
        np.asarray(mask),
        [_pts(points)],
        False,
        1.0,
        max(1, int(round(thickness))),
        cv2.LINE_AA,
        shift=4,
    )
    _grow(mask, points, thickness / 2 + 1)
    return mask


def _ellipse(mask, center, axes, angle=0.0):
    c = (int(round(center[0] * 16)), int(round(center[1] * 16)))
    a = (max(1, int(round(axes[0] * 16))), max(1, int(round(axes[1] * 16))))
    cv2.ellipse(np.asarray(mask), c, a, angle, 0, 360, 1.0, -1, cv2.LINE_AA, shift=4)
    r = max(axes)
    _grow(mask, [(center[0] - r, center[1] - r), (center[0] + r, center[1] + r)], 0)
    return mask


def _curve(p0, p1, p2, n=16):
    """Quadratic Bezier from p0 to p2 pulled toward p1; (n, 2) points."""
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _through(p0, mid, p2, n=20):
    """Quadratic Bezier from p0 to p2 passing through ``mid`` at its half-way point."""
    ctrl = (2 * mid[0] - (p0[0] + p2[0]) / 2, 2 * mid[1] - (p0[1] + p2[1]) / 2)
    return _curve(p0, ctrl, p2, n)


def _blend_expr(rest: Expression, expr: Expression, k: float) -> Expression:
    return Expression(
        **{f: getattr(rest, f) + k * getattr(expr, f) for f in Expression.__dataclass_fields__}
    )


def render_face(
    ident: Identity, emotion: str, rng: np.random.Generator, difficulty: float = 1.0
) -> np.ndarray:
    """Draw one portrait: (HEIGHT, WIDTH, 3) uint8 RGB.

    ``rng`` supplies the per-image nuisance and expression intensity; ``difficulty``
    scales the nuisance (0 = clean, 1 = default).
    """
    k = ident.expressiveness * float(rng.uniform(1 - 0.25 * difficulty, 1.0))
    e = _blend_expr(ident.rest, EXPRESSIONS[emotion], k)
    cv = _Canvas(WIDTH, HEIGHT)
    W, H = WIDTH, HEIGHT

    # Background: two-colour gradient with a soft blob (a room behind the person).
    cv.img[:] = _background(W, H, ident.background, ident.background2)

    fw, fh = ident.face_w, ident.face_h
    cx = W / 2 + rng.normal(0, 4 * difficulty)
    cy = H * 0.44 + rng.normal(0, 4 * difficulty)
    yaw = float(rng.normal(0, 0.03 * difficulty))  # feature shift, face-relative

    def P(u, v):
        """Face-relative (u across, v down; -1..1 on the outline) to pixels."""
        return (cx + (u + yaw * (1 - v * v * 0.3)) * fw, cy + v * fh)

    skin = np.asarray(ident.skin, np.float32)
    hair = ident.hair

    # Shoulders, neck, long hair behind.
    cv.paint(_ellipse(cv.mask(), (cx, H + 35), (fw * 2.3, fh * 1.35)), ident.clothes, blur=1)
    neck = _fill(cv.mask(), [P(-0.45, 0.6), P(0.45, 0.6), P(0.5, 1.75), P(-0.5, 1.75)])
    cv.paint(neck, skin * 0.82, blur=1.5)
    if ident.hair_style == "long":
        back = _ellipse(cv.mask(), P(0, -0.05), (fw * 1.28, fh * 1.15))
        _fill(back, [P(-1.25, 0.0), P(1.25, 0.0), P(1.3, 1.45), P(-1.3, 1.45)])
        cv.paint(back, hair, blur=2)

    # Ears and head outline (an ellipse with a narrowing jaw).
    for s in (-1, 1):
        cv.paint(_ellipse(cv.mask(), P(s * 0.98, 0.02), (fw * 0.13, fh * 0.2)), skin * 0.92, blur=1)
    ang = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    su = np.cos(ang)
    sv = np.sin(ang)
    squeeze = 1 - ident.jaw * np.clip(sv, 0, 1) ** 2
    outline = [(cx + fw * a * q, cy + fh * b) for a, b, q in zip(su, sv, squeeze, strict=True)]
    head = _fill(cv.mask(), outline)
    cv.paint(head, skin, blur=1.2)
    # Rounded shading: darker toward the edge of the face, lit from one side.
    y0, y1 = _row(cy - fh - 4), _row(cy + fh + 4)
    x0, x1 = _row(cx - fw - 4), _row(cx + fw + 4)
    xx, yy = cv.xx[y0:y1, x0:x1], cv.yy[y0:y1, x0:x1]
    rr = ((xx - cx) / fw) ** 2 + ((yy - cy) / fh) ** 2
    light = float(rng.normal(0, 0.35 * difficulty))
    shading = 1 - 0.22 * np.clip(rr, 0, 1.2) + 0.08 * light * (xx - cx) / fw
    inside_head = cv2.GaussianBlur(np.asarray(head)[y0:y1, x0:x1], (0, 0), 2)[..., None]
    cv.img[y0:y1, x0:x1] *= np.where(inside_head > 0.01, shading[..., None], 1.0).astype(np.float32)

    # Age lines and beard.
    if ident.wrinkles > 0:
        for s in (-1, 1):
            m = _line(
                cv.mask(), _curve(P(s * 0.62, -0.08), P(s * 0.72, -0.02), P(s * 0.64, 0.06)), 1.2
            )
            cv.shade(m, 1 - 0.25 * ident.wrinkles, blur=0.7)
    if ident.beard > 0:
        beard = _fill(
            cv.mask(),
            [
                P(-0.95, 0.2),
                P(-0.6, 0.5),
                P(0.6, 0.5),
                P(0.95, 0.2),
                P(0.9, 0.7),
                P(0, 1.08),
                P(-0.9, 0.7),
            ],
        )
        _within(beard, head)
        cv.paint(beard, hair, alpha=0.55 * ident.beard, blur=3)

    # Hair on top.
    hl = ident.hairline
    style = ident.hair_style
    if style != "bald":
        cap = _ellipse(cv.mask(), P(0, -0.28), (fw * 1.1, fh * 0.85))
        cap[_row(P(0, hl)[1]) :] = 0
        # Temples: hair reaches down the sides of the face.
        for s in (-1, 1):
            _fill(
                cap,
                [P(s * 1.06, hl - 0.1), P(s * 0.78, hl), P(s * 0.92, -0.05), P(s * 1.05, -0.05)],
            )
        if style == "fringe":
            _fill(
                cap,
                [
                    P(-0.9, hl - 0.1),
                    P(0.9, hl - 0.1),
                    P(0.75, hl + 0.2),
                    P(0.0, hl + 0.16),
                    P(-0.75, hl + 0.22),
                ],
            )
        if style == "bun":
            _ellipse(cap, P(0, -1.12), (fw * 0.42, fh * 0.3))
        if style == "long":
            for s in (-1, 1):
                _fill(
                    cap, [P(s * 1.1, hl), P(s * 0.88, hl + 0.1), P(s * 0.98, 0.55), P(s * 1.2, 0.6)]
                )
        cv.paint(cap, hair, blur=1.5)
        sheen = cap.copy()
        sheen[_row(cy - fh * 0.9) :] = 0
        cv.shade(sheen, 1.15, blur=4)
    else:
        for s in (-1, 1):
            side = _ellipse(cv.mask(), P(s * 0.95, -0.25), (fw * 0.12, fh * 0.25))
            cv.paint(side, hair, blur=2)

    # Eye sockets: darker regions around the eyes (what a face detector looks for).
    ex = ident.eye_dx
    ey = -0.06
    for s in (-1, 1):
        cv.shade(_ellipse(cv.mask(), P(s * ex, ey - 0.02), (fw * 0.25, fh * 0.13)), 0.72, blur=6)
    # Light nose bridge and forehead centre; cheeks.
    bridge = _fill(
        cv.mask(),
        [
            P(-0.07, ey - 0.1),
            P(0.07, ey - 0.1),
            P(0.09, ey + ident.nose_len),
            P(-0.09, ey + ident.nose_len),
        ],
    )
    cv.shade(bridge, 1.12, blur=4)
    ny = ey + ident.nose_len + 0.08
    for s in (-1, 1):
        cv.shade(
            _ellipse(cv.mask(), P(s * 0.13, ny - 0.02), (fw * 0.06, fh * 0.035)), 0.55, blur=1.5
        )
        cv.shade(
            _line(
                cv.mask(),
                _curve(P(s * 0.06, ey + 0.05), P(s * 0.13, ny - 0.1), P(s * 0.17, ny - 0.06)),
                2,
            ),
            0.85,
            blur=2,
        )
    if e.nose_wrinkle > 0:
        for i in range(3):
            yv = ey + 0.02 + i * 0.045
            m = _line(cv.mask(), _curve(P(-0.1, yv), P(0, yv - 0.03), P(0.1, yv)), 1.5)
            cv.shade(m, 1 - 0.45 * min(1.0, e.nose_wrinkle), blur=0.6)

    # Eyes.
    open_ = float(np.clip(1 + 0.55 * e.eye_open, 0.35, 1.9))
    for s in (-1, 1):
        c = P(s * ex, ey)
        rw = fw * 0.15 * ident.eye_size
        rh = fh * 0.055 * ident.eye_size * open_
        sclera = _ellipse(cv.mask(), c, (rw, rh))
        lower = c[1] + rh * (1 - 1.1 * float(np.clip(e.lid_lower, 0, 1)))
        sclera[_row(lower) :] = 0
        cv.paint(sclera, (235, 232, 228), blur=0.6)
        iris_r = fh * 0.052 * ident.eye_size
        look = (c[0] + yaw * fw * 0.3, c[1])
        iris = _within(_ellipse(cv.mask(), look, (iris_r, iris_r)), sclera)
        cv.paint(iris, ident.iris, blur=0.5)
        pupil = _within(_ellipse(cv.mask(), look, (iris_r * 0.45, iris_r * 0.45)), sclera)
        cv.paint(pupil, (10, 10, 10), blur=0.4)
        lid = _line(
            cv.mask(), _curve((c[0] - rw, c[1]), (c[0], c[1] - 2 * rh), (c[0] + rw, c[1])), 3
        )
        cv.paint(lid, (25, 20, 20), blur=0.6)
        if e.lid_lower > 0.15:
            m = _line(
                cv.mask(),
                _curve(
                    (c[0] - rw, c[1] + rh * 0.3),
                    (c[0], lower + rh * 0.4),
                    (c[0] + rw, c[1] + rh * 0.3),
                ),
                1.5,
            )
            cv.shade(m, 0.7, blur=0.8)

    # Brows: inner end, arch, outer end. Positive brow_inner raises the inner end.
    by = ident.brow_y - 0.11 * e.brow_raise
    for s in (-1, 1):
        inner = P(s * 0.12, by + 0.04 - 0.12 * e.brow_inner)
        mid = P(
            s * (ex + 0.02), by - 0.07 - 0.04 * max(e.brow_raise, 0) + 0.03 * max(-e.brow_inner, 0)
        )
        outer = P(s * (ex + 0.26), by + 0.03 + 0.04 * max(e.brow_inner, 0))
        brow = _line(cv.mask(), _curve(inner, mid, outer), ident.brow_thick)
        cv.paint(brow, tuple(0.55 * c for c in hair), blur=1.0)
    if e.brow_inner < -0.4:  # frown lines between the brows
        for s in (-1, 1):
            m = _line(cv.mask(), [P(s * 0.05, by + 0.02), P(s * 0.07, by + 0.14)], 1.5)
            cv.shade(m, 1 - 0.35 * min(1.0, -e.brow_inner), blur=0.6)
    if e.brow_raise > 0.4:  # forehead lines
        for i in range(2):
            yv = by - 0.13 - i * 0.06
            m = _line(cv.mask(), _curve(P(-0.35, yv), P(0, yv - 0.05), P(0.35, yv)), 1.3)
            cv.shade(m, 1 - 0.3 * min(1.0, e.brow_raise), blur=0.7)

    # Mouth: two corners and the midpoints of the upper and lower lip edges.
    my = 0.55
    mw = ident.mouth_w * (1 + 0.3 * e.mouth_width)
    lift = 0.16 * e.mouth_curve
    left = P(-mw, my - lift)
    right = P(mw * (1 + 0.3 * e.smirk), my - lift - 0.14 * e.smirk)
    gap = 0.26 * max(e.mouth_open, 0)
    smile = max(e.mouth_curve, 0)
    up_mid = P(0.06 * e.smirk, my - 0.012 - 0.1 * max(e.lip_raise, 0) - 0.3 * gap - 0.07 * smile)
    lo_mid = P(0.06 * e.smirk, my + 0.012 + 0.7 * gap + 0.08 * smile * min(1.0, gap * 8))
    upper = _through(left, up_mid, right)
    lower = _through(right, lo_mid, left)
    lip_t = fh * 0.06 * (1 - 0.7 * float(np.clip(e.press, 0, 1)))
    if ident.beard > 0.5:  # moustache above the upper lip
        top = P(0.06 * e.smirk, my - 0.2 - 0.1 * max(e.lip_raise, 0))
        mus = _fill(
            cv.mask(),
            np.vstack(
                [
                    _through(left, top, right),
                    _through(right, (up_mid[0], up_mid[1] - lip_t * 0.6), left),
                ]
            ),
        )
        cv.paint(mus, hair, alpha=0.7, blur=1.5)
    if lo_mid[1] - up_mid[1] > fh * 0.05:
        inside = _fill(cv.mask(), np.vstack([upper, lower]))
        cv.paint(inside, (45, 15, 20), blur=0.6)
        if max(e.teeth, 0) > 0.2:
            band = inside.copy()
            band[_row(up_mid[1] + fh * 0.06 * e.teeth) :] = 0
            cv.paint(band, (235, 230, 220), alpha=min(1.0, e.teeth), blur=0.6)
        cv.paint(_line(cv.mask(), upper, lip_t * 0.8), ident.lip, blur=0.8)
        cv.paint(_line(cv.mask(), lower, lip_t), ident.lip, blur=0.8)
    else:
        mid = ((up_mid[0] + lo_mid[0]) / 2, (up_mid[1] + lo_mid[1]) / 2)
        lips = _fill(
            cv.mask(),
            np.vstack(
                [
                    _through(left, (mid[0], mid[1] - lip_t), right),
                    _through(right, (mid[0], mid[1] + lip_t * 1.2), left),
                ]
            ),
        )
        cv.paint(lips, ident.lip, blur=0.8)
        cv.paint(_line(cv.mask(), _through(left, mid, right), 3), (40, 15, 20), blur=0.6)
    # Folds from the nose to the mouth corners (deeper when smiling or in disgust).
    fold = 0.12 + 0.5 * smile + 0.4 * max(e.lip_raise, 0)
    for s, corner in ((-1, left), (1, right)):
        strength = fold if s == -1 else fold + 0.6 * max(e.smirk, 0)
        m = _line(
            cv.mask(),
            _curve(
                P(s * 0.2, ny - 0.02),
                P(s * (mw + 0.12), my - 0.12),
                (corner[0] + s * fw * 0.05, corner[1] + fh * 0.04),
            ),
            2,
        )
        cv.shade(m, 1 - 0.3 * min(1.0, strength), blur=1.5)

    # Moles and glasses.
    for u, v in ident.moles:
        cv.paint(_ellipse(cv.mask(), P(u, v), (2.2, 2.2)), skin * 0.45, blur=0.6)
    if ident.glasses:
        g = cv.mask()
        for s in (-1, 1):
            c = P(s * ex, ey)
            x0, x1, y0, y1 = c[0] - fw * 0.23, c[0] + fw * 0.23, c[1] - fh * 0.12, c[1] + fh * 0.12
            _line(g, [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], 3)
            _line(g, [P(s * (ex + 0.23), ey - 0.05), P(s * 1.0, ey - 0.08)], 2.5)
        _line(g, _curve(P(-ex + 0.23, ey - 0.04), P(0, ey - 0.09), P(ex - 0.23, ey - 0.04)), 2.5)
        cv.paint(g, (20, 20, 25), blur=0.5)

    img = cv.img
    # Pose (roll) and scale about the face centre (applied at the end); lighting.
    angle = float(rng.normal(0, 3 * difficulty))
    scale = float(1 + rng.normal(0, 0.03 * difficulty))
    M = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, scale)
    theta = rng.uniform(0, 2 * np.pi)
    strength = 0.35 * difficulty * float(rng.uniform(0.3, 1.0))
    gain = float(rng.uniform(1 - 0.12 * difficulty, 1 + 0.08 * difficulty))
    # Lighting: a linear gradient in a random direction times an overall gain. A linear
    # ramp is what bilinear interpolation of its four corners gives, so draw it small.
    corners = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    ramp = (math.cos(theta) * (corners - 0.5) + math.sin(theta) * (corners.T - 0.5)).astype(
        np.float32
    )
    small = gain * (1 + strength * ramp)
    light_map = cv2.resize(small.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    img *= light_map[..., None]
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 0.5 + 0.7 * difficulty)))
    # Sensor noise: a random window of a fixed noise tile (drawing fresh noise is slow).
    dy, dx = (int(v) for v in rng.integers(0, 64, 2))
    img += _noise_tile(W, H)[dy : dy + H, dx : dx + W] * np.float32(2 + 4 * difficulty)
    # The pose last, on 8-bit pixels (three times cheaper than on floats).
    img = np.clip(img, 0, 255).astype(np.uint8)
    return cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@functools.lru_cache(maxsize=64)
def _background(width: int, height: int, color1: tuple, color2: tuple) -> np.ndarray:
    """A person's backdrop: ``color1`` top-left to ``color2`` bottom-right, (H, W, 3) float32."""
    xx, yy = _grid(width, height)
    ramp = (xx / width * 0.6 + yy / height * 0.4)[..., None]
    c1, c2 = np.asarray(color1, np.float32), np.asarray(color2, np.float32)
    bg = (c1 + (c2 - c1) * ramp).astype(np.float32)
    bg.flags.writeable = False
    return bg


@functools.lru_cache(maxsize=4)
def _noise_tile(width: int, height: int) -> np.ndarray:
    """Fixed unit Gaussian noise, (height + 64, width + 64, 3) float32."""
    tile = np.random.default_rng(1234).standard_normal(
        (height + 64, width + 64, 3), dtype=np.float32
    )
    tile.flags.writeable = False
    return tile


# --------------------------------------------------------------------------- metadata
def default_metadata() -> pd.DataFrame:
    """The 19 real participants of the Kaggle tapakah68 dataset (set_id, gender, age, country)."""
    return pd.read_csv(DEFAULT_METADATA, sep=";", dtype=str)


def participants_table(participants: int | pd.DataFrame = 19, seed: int = 0) -> pd.DataFrame:
    """Metadata for ``participants`` people: the real 19 first, then seeded plausible extras.

    A DataFrame is used as given (columns set_id, gender, age, country; any case).
    Returns columns set_id, gender (FEMALE/MALE), age (int), country.
    """
    if isinstance(participants, pd.DataFrame):
        meta = participants.rename(columns=lambda c: str(c).strip().lower()).copy()
        missing = {"set_id", "gender", "age", "country"} - set(meta.columns)
        if missing:
            raise ValueError(f"participant table lacks columns {sorted(missing)}")
        return meta[["set_id", "gender", "age", "country"]].astype(str).reset_index(drop=True)
    n = int(participants)
    if n < 1:
        raise ValueError("participants must be at least 1")
    meta = default_metadata().head(n)
    extra = n - len(meta)
    if extra > 0:
        r = _rng(seed, "extra-participants")
        rows = []
        for i in range(extra):
            country = "RU" if r.uniform() < 0.85 else str(r.choice(["PH", "IN", "KZ", "BY", "UA"]))
            rows.append(
                {
                    "set_id": str(len(meta) + i),
                    "gender": "FEMALE" if r.uniform() < 0.7 else "MALE",
                    "age": str(int(np.clip(r.normal(31, 9), 16, 65))),
                    "country": country,
                }
            )
        meta = pd.concat([meta, pd.DataFrame(rows)], ignore_index=True)
    return meta.astype(str)


# --------------------------------------------------------------------------- writing
def file_stem(emotion: str, k: int, images_per_emotion: int) -> str:
    """Kaggle stem (``Anger``); ``Anger_2`` etc. when there are several per emotion."""
    name = KAGGLE_NAMES[emotion]
    return name if images_per_emotion == 1 else f"{name}_{k + 1}"


def generate(
    out_dir: str | Path,
    participants: int | pd.DataFrame = 19,
    images_per_emotion: int = 1,
    seed: int = 0,
    difficulty: float = 1.0,
    emotions: tuple[str, ...] = EMOTIONS,
    jpeg_quality: int = 92,
) -> Path:
    """Write a synthetic dataset in the tapakah68 layout into ``out_dir``; returns the path.

    ``out_dir`` must not exist or be empty. Writes ``images/<set_id>/<Emotion>.jpg``
    (320x400 RGB JPEGs), ``emotions.csv`` (``;``-separated, like the shared copy) and
    ``SYNTHETIC.txt`` (the marker, with the generator settings as JSON).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    if images_per_emotion < 1:
        raise ValueError("images_per_emotion must be at least 1")
    meta = participants_table(participants, seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = []
    for _, row in meta.iterrows():
        sid = str(row["set_id"])
        age = pd.to_numeric(row["age"], errors="coerce")
        ident = make_identity(seed, sid, row["gender"], age, difficulty)
        folder = out / "images" / sid
        folder.mkdir(parents=True, exist_ok=True)
        for emotion in emotions:
            for k in range(images_per_emotion):
                path = folder / f"{file_stem(emotion, k, images_per_emotion)}.jpg"
                jobs.append((path, ident, emotion, _rng(seed, "image", sid, emotion, k)))

    def draw(job) -> None:
        path, ident, emotion, rng = job
        rgb = render_face(ident, emotion, rng, difficulty)
        ok, buf = cv2.imencode(
            ".jpg",
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)],
        )
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
            raise RuntimeError("JPEG encoding failed")
        path.write_bytes(buf.tobytes())

    # Each image has its own generator, so the thread order does not change any byte.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(draw, jobs))
    meta.to_csv(out / "emotions.csv", sep=";", index=False)
    settings = {
        "generator_version": GENERATOR_VERSION,
        "participants": len(meta),
        "seed": int(seed),
        "images_per_emotion": int(images_per_emotion),
        "difficulty": float(difficulty),
        "emotions": list(emotions),
    }
    (out / MARKER).write_text(
        "Synthetic demo data drawn by fer_engine.data.synthetic: not photographs of real people.\n"
        "Demographics are copied from the real tapakah68 metadata (or seeded) only to exercise\n"
        "the subgroup analyses; they say nothing about the drawn faces' real-world counterparts.\n"
        + json.dumps(settings, sort_keys=True)
        + "\n"
    )
    return out


def cache_key(
    participants: int = 19, seed: int = 0, images_per_emotion: int = 1, difficulty: float = 1.0
) -> str:
    """Folder name of a default dataset in the cache: all settings plus the generator version."""
    meta = participants_table(participants, seed).to_csv(index=False).encode()
    digest = f"{zlib.crc32(meta):08x}"
    return (
        f"v{GENERATOR_VERSION}-p{participants}-k{images_per_emotion}-s{seed}"
        f"-d{difficulty:g}-{digest}"
    )


def default_dataset_path(
    participants: int = 19, seed: int = 0, images_per_emotion: int = 1, difficulty: float = 1.0
) -> Path:
    """The embedded default dataset, generated on first use under the cache folder.

    Lives in ``fer_engine.paths.cache_dir()/synthetic/<key>/``. Generation writes into a
    temporary sibling folder and renames it into place, so a half-written dataset is
    never seen and two processes racing both end up with the same complete folder.
    """
    from fer_engine.paths import cache_dir

    parent = cache_dir() / "synthetic"
    final = parent / cache_key(participants, seed, images_per_emotion, difficulty)
    if (final / MARKER).is_file():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=parent))
    try:
        generate(
            tmp,
            participants=participants,
            images_per_emotion=images_per_emotion,
            seed=seed,
            difficulty=difficulty,
        )
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first (the target exists and is not empty).
            if not (final / MARKER).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
