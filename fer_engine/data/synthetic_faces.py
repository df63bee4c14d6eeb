"""Procedurally drawn faces: expressions, per-participant identity and per-image nuisance.

Each image is a 320x400 (width x height) RGB "portrait": a face inside a larger frame
with hair, neck, shoulders and a background, like a photo of a person, not a face crop.

- Expression: eight expressions with distinct geometric cues (brows, eyes, mouth, nose
  wrinkles; contempt is a one-sided smirk), drawn at a random intensity.
- Identity (per participant, seeded): face shape, skin tone, hair style and colour,
  eye/brow/mouth geometry, glasses, beard, moles, background and clothing, plus a
  personal "resting face" bias and expressiveness, so one person's neutral may look
  like another's sad (what makes leave-one-subject-out evaluation hard).
- Nuisance (per image): small roll, yaw shift, scale and position, lighting gradient,
  blur and sensor noise (JPEG compression is added when the file is written).

Shaded dark eye sockets and brows and a lighter nose bridge make most faces findable by
OpenCV's Haar frontal-face cascade (about 9 in 10 here); the face always lies inside
the centre square of the portrait, so a centre crop is the fallback.

Difficulty (generator version 2, 19 participants, seed 0, measured with a throwaway
script): the study's small CNN (48x48 gray face crops, 30 epochs) reached 43% accuracy
under leave-one-subject-out (66/152; chance 12.5%), and 89% (34/38) when trained on
participant ids with an image-level split: expression is learnable across people but far
from solved, and identity is easy, as with real posed photos.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from fer_engine.data.drawing import Canvas, curve, ellipse, fill, grid, line, row, through, within

#: Portrait size in pixels.
WIDTH, HEIGHT = 320, 400


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


def seeded_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (stable across processes)."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _mix(a, b, t):
    return tuple(float(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def make_identity(
    seed: int, set_id: str, gender: str | None, age: float | None, difficulty: float = 1.0
) -> Identity:
    """The seeded look of one participant; ``gender``/``age`` shape hair, beard, wrinkles."""
    r = seeded_rng(seed, "identity", set_id)
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
    rest_scale = 0.07 * difficulty
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
        expressiveness=float(r.uniform(1 - 0.15 * difficulty, 1.0)),
    )


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
    k = ident.expressiveness * float(rng.uniform(1 - 0.2 * difficulty, 1.0))
    e = _blend_expr(ident.rest, EXPRESSIONS[emotion], k)
    cv = Canvas(WIDTH, HEIGHT)
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
    cv.paint(ellipse(cv.mask(), (cx, H + 35), (fw * 2.3, fh * 1.35)), ident.clothes, blur=1)
    neck = fill(cv.mask(), [P(-0.45, 0.6), P(0.45, 0.6), P(0.5, 1.75), P(-0.5, 1.75)])
    cv.paint(neck, skin * 0.82, blur=1.5)
    if ident.hair_style == "long":
        back = ellipse(cv.mask(), P(0, -0.05), (fw * 1.28, fh * 1.15))
        fill(back, [P(-1.25, 0.0), P(1.25, 0.0), P(1.3, 1.45), P(-1.3, 1.45)])
        cv.paint(back, hair, blur=2)

    # Ears and head outline (an ellipse with a narrowing jaw).
    for s in (-1, 1):
        cv.paint(ellipse(cv.mask(), P(s * 0.98, 0.02), (fw * 0.13, fh * 0.2)), skin * 0.92, blur=1)
    ang = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    su = np.cos(ang)
    sv = np.sin(ang)
    squeeze = 1 - ident.jaw * np.clip(sv, 0, 1) ** 2
    outline = [(cx + fw * a * q, cy + fh * b) for a, b, q in zip(su, sv, squeeze, strict=True)]
    head = fill(cv.mask(), outline)
    cv.paint(head, skin, blur=1.2)
    # Rounded shading: darker toward the edge of the face, lit from one side.
    y0, y1 = row(cy - fh - 4), row(cy + fh + 4)
    x0, x1 = row(cx - fw - 4), row(cx + fw + 4)
    xx, yy = cv.xx[y0:y1, x0:x1], cv.yy[y0:y1, x0:x1]
    rr = ((xx - cx) / fw) ** 2 + ((yy - cy) / fh) ** 2
    light = float(rng.normal(0, 0.35 * difficulty))
    shading = 1 - 0.22 * np.clip(rr, 0, 1.2) + 0.08 * light * (xx - cx) / fw
    inside_head = cv2.GaussianBlur(np.asarray(head)[y0:y1, x0:x1], (0, 0), 2)[..., None]
    cv.img[y0:y1, x0:x1] *= np.where(inside_head > 0.01, shading[..., None], 1.0).astype(np.float32)

    # Age lines and beard.
    if ident.wrinkles > 0:
        for s in (-1, 1):
            m = line(
                cv.mask(), curve(P(s * 0.62, -0.08), P(s * 0.72, -0.02), P(s * 0.64, 0.06)), 1.2
            )
            cv.shade(m, 1 - 0.25 * ident.wrinkles, blur=0.7)
    if ident.beard > 0:
        beard = fill(
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
        within(beard, head)
        cv.paint(beard, hair, alpha=0.55 * ident.beard, blur=3)

    # Hair on top.
    hl = ident.hairline
    style = ident.hair_style
    if style != "bald":
        cap = ellipse(cv.mask(), P(0, -0.28), (fw * 1.1, fh * 0.85))
        cap[row(P(0, hl)[1]) :] = 0
        # Temples: hair reaches down the sides of the face.
        for s in (-1, 1):
            fill(
                cap,
                [P(s * 1.06, hl - 0.1), P(s * 0.78, hl), P(s * 0.92, -0.05), P(s * 1.05, -0.05)],
            )
        if style == "fringe":
            fill(
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
            ellipse(cap, P(0, -1.12), (fw * 0.42, fh * 0.3))
        if style == "long":
            for s in (-1, 1):
                fill(
                    cap, [P(s * 1.1, hl), P(s * 0.88, hl + 0.1), P(s * 0.98, 0.55), P(s * 1.2, 0.6)]
                )
        cv.paint(cap, hair, blur=1.5)
        sheen = cap.copy()
        sheen[row(cy - fh * 0.9) :] = 0
        cv.shade(sheen, 1.15, blur=4)
    else:
        for s in (-1, 1):
            side = ellipse(cv.mask(), P(s * 0.95, -0.25), (fw * 0.12, fh * 0.25))
            cv.paint(side, hair, blur=2)

    # Eye sockets: darker regions around the eyes (what a face detector looks for).
    ex = ident.eye_dx
    ey = -0.06
    for s in (-1, 1):
        cv.shade(ellipse(cv.mask(), P(s * ex, ey - 0.02), (fw * 0.25, fh * 0.13)), 0.72, blur=6)
    # Light nose bridge and forehead centre; cheeks.
    bridge = fill(
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
            ellipse(cv.mask(), P(s * 0.13, ny - 0.02), (fw * 0.06, fh * 0.035)), 0.55, blur=1.5
        )
        cv.shade(
            line(
                cv.mask(),
                curve(P(s * 0.06, ey + 0.05), P(s * 0.13, ny - 0.1), P(s * 0.17, ny - 0.06)),
                2,
            ),
            0.85,
            blur=2,
        )
    if e.nose_wrinkle > 0:
        for i in range(3):
            yv = ey + 0.02 + i * 0.045
            m = line(cv.mask(), curve(P(-0.1, yv), P(0, yv - 0.03), P(0.1, yv)), 1.5)
            cv.shade(m, 1 - 0.45 * min(1.0, e.nose_wrinkle), blur=0.6)

    # Eyes.
    open_ = float(np.clip(1 + 0.55 * e.eye_open, 0.35, 1.9))
    for s in (-1, 1):
        c = P(s * ex, ey)
        rw = fw * 0.15 * ident.eye_size
        rh = fh * 0.055 * ident.eye_size * open_
        sclera = ellipse(cv.mask(), c, (rw, rh))
        lower = c[1] + rh * (1 - 1.1 * float(np.clip(e.lid_lower, 0, 1)))
        sclera[row(lower) :] = 0
        cv.paint(sclera, (235, 232, 228), blur=0.6)
        iris_r = fh * 0.052 * ident.eye_size
        look = (c[0] + yaw * fw * 0.3, c[1])
        iris = within(ellipse(cv.mask(), look, (iris_r, iris_r)), sclera)
        cv.paint(iris, ident.iris, blur=0.5)
        pupil = within(ellipse(cv.mask(), look, (iris_r * 0.45, iris_r * 0.45)), sclera)
        cv.paint(pupil, (10, 10, 10), blur=0.4)
        lid = line(cv.mask(), curve((c[0] - rw, c[1]), (c[0], c[1] - 2 * rh), (c[0] + rw, c[1])), 3)
        cv.paint(lid, (25, 20, 20), blur=0.6)
        if e.lid_lower > 0.15:
            m = line(
                cv.mask(),
                curve(
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
        brow = line(cv.mask(), curve(inner, mid, outer), ident.brow_thick)
        cv.paint(brow, tuple(0.55 * c for c in hair), blur=1.0)
    if e.brow_inner < -0.4:  # frown lines between the brows
        for s in (-1, 1):
            m = line(cv.mask(), [P(s * 0.05, by + 0.02), P(s * 0.07, by + 0.14)], 1.5)
            cv.shade(m, 1 - 0.35 * min(1.0, -e.brow_inner), blur=0.6)
    if e.brow_raise > 0.4:  # forehead lines
        for i in range(2):
            yv = by - 0.13 - i * 0.06
            m = line(cv.mask(), curve(P(-0.35, yv), P(0, yv - 0.05), P(0.35, yv)), 1.3)
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
    upper = through(left, up_mid, right)
    lower = through(right, lo_mid, left)
    lip_t = fh * 0.06 * (1 - 0.7 * float(np.clip(e.press, 0, 1)))
    if ident.beard > 0.5:  # moustache above the upper lip
        top = P(0.06 * e.smirk, my - 0.2 - 0.1 * max(e.lip_raise, 0))
        mus = fill(
            cv.mask(),
            np.vstack(
                [
                    through(left, top, right),
                    through(right, (up_mid[0], up_mid[1] - lip_t * 0.6), left),
                ]
            ),
        )
        cv.paint(mus, hair, alpha=0.7, blur=1.5)
    if lo_mid[1] - up_mid[1] > fh * 0.05:
        inside = fill(cv.mask(), np.vstack([upper, lower]))
        cv.paint(inside, (45, 15, 20), blur=0.6)
        if max(e.teeth, 0) > 0.2:
            band = inside.copy()
            band[row(up_mid[1] + fh * 0.06 * e.teeth) :] = 0
            cv.paint(band, (235, 230, 220), alpha=min(1.0, e.teeth), blur=0.6)
        cv.paint(line(cv.mask(), upper, lip_t * 0.8), ident.lip, blur=0.8)
        cv.paint(line(cv.mask(), lower, lip_t), ident.lip, blur=0.8)
    else:
        mid = ((up_mid[0] + lo_mid[0]) / 2, (up_mid[1] + lo_mid[1]) / 2)
        lips = fill(
            cv.mask(),
            np.vstack(
                [
                    through(left, (mid[0], mid[1] - lip_t), right),
                    through(right, (mid[0], mid[1] + lip_t * 1.2), left),
                ]
            ),
        )
        cv.paint(lips, ident.lip, blur=0.8)
        cv.paint(line(cv.mask(), through(left, mid, right), 3), (40, 15, 20), blur=0.6)
    # Folds from the nose to the mouth corners (deeper when smiling or in disgust).
    fold = 0.12 + 0.5 * smile + 0.4 * max(e.lip_raise, 0)
    for s, corner in ((-1, left), (1, right)):
        strength = fold if s == -1 else fold + 0.6 * max(e.smirk, 0)
        m = line(
            cv.mask(),
            curve(
                P(s * 0.2, ny - 0.02),
                P(s * (mw + 0.12), my - 0.12),
                (corner[0] + s * fw * 0.05, corner[1] + fh * 0.04),
            ),
            2,
        )
        cv.shade(m, 1 - 0.3 * min(1.0, strength), blur=1.5)

    # Moles and glasses.
    for u, v in ident.moles:
        cv.paint(ellipse(cv.mask(), P(u, v), (2.2, 2.2)), skin * 0.45, blur=0.6)
    if ident.glasses:
        g = cv.mask()
        for s in (-1, 1):
            c = P(s * ex, ey)
            x0, x1, y0, y1 = c[0] - fw * 0.23, c[0] + fw * 0.23, c[1] - fh * 0.12, c[1] + fh * 0.12
            line(g, [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], 3)
            line(g, [P(s * (ex + 0.23), ey - 0.05), P(s * 1.0, ey - 0.08)], 2.5)
        line(g, curve(P(-ex + 0.23, ey - 0.04), P(0, ey - 0.09), P(ex - 0.23, ey - 0.04)), 2.5)
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
    xx, yy = grid(width, height)
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
