"""Classify one uploaded photo in memory: the Classify page's engine.

- :func:`classify_image` (bytes, a binary file or an RGB array) -> :class:`ImageResult`:
  every face found (the largest ones, numbered left to right), its probabilities from **one** batched model call,
  and plain-language notes on what may make the result less reliable (no face, several
  faces, tiny faces, very large photos).
- :func:`annotate` draws numbered boxes and labels on a display-sized copy.

Its faces are explained by :mod:`fer_engine.explain`: ``explain_face`` runs several
attribution methods on one face, ``overlay_panel`` shows a map on the *original photo*
around it and ``face_faithfulness`` measures the maps.

Nothing here writes to disk: the photo lives in memory for as long as the caller keeps it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.models.base import face_margin
from fer_engine.preprocess import DEFAULT_ALIGN, DEFAULT_DETECTOR, FaceBox, prepare_image
from fer_engine.preprocess.detectors import get_detector
from fer_engine.preprocess.faces import DETECT_MAX_SIDE

#: Faces classified per photo at most (largest first).
MAX_FACES = 12
#: Faces narrower than this (pixels in the photo) get a caution note.
SMALL_FACE_PX = 48
#: Smallest face searched, as a fraction of the photo's shorter side: normal / "small faces".
MIN_FACE = 0.1
MIN_FACE_SMALL = 0.03
#: Longest side of the annotated copy shown on the page.
DISPLAY_MAX_SIDE = 1280
#: Photos whose longer side exceeds this are called large in the notes.
LARGE_PHOTO_SIDE = 2000
#: What a :class:`Note` can be about.
NOTE_KINDS: tuple[str, ...] = ("detection_off", "no_face", "several_faces", "small_faces",
                               "large_photo")


class Note(NamedTuple):
    """A remark on a photo's result. ``level``: ``"info"`` or ``"warning"``; ``text``: what
    was found, for the user; ``kind``: what it is about (one of :data:`NOTE_KINDS`), so a
    caller can add advice of its own, such as which of its settings to change."""

    level: str
    text: str
    kind: str


@dataclass
class Face:
    """One classified face. ``box``: the detected face (the centre square when detection
    was off), ``crop``: the square the model input was cut from, both in photo pixels;
    ``pixels``: the model input before normalisation ((size, size, channels) uint8);
    ``probabilities``: (K,) over the model's labels; ``angle``: the rotation (degrees) the
    input was cut with when the face was aligned (0.0 otherwise), for overlays."""

    index: int
    box: FaceBox
    crop: FaceBox
    pixels: np.ndarray
    probabilities: np.ndarray
    label: str
    confidence: float
    angle: float = 0.0

    @property
    def small(self) -> bool:
        return min(self.box.w, self.box.h) < SMALL_FACE_PX


@dataclass
class ImageResult:
    """A photo and its classified faces. ``rgb``: the decoded (H, W, 3) uint8 photo;
    ``notes``: :class:`Note` s (level, text, kind)."""

    name: str
    rgb: np.ndarray
    labels: tuple[str, ...]
    faces: list[Face]
    status: str
    notes: list[Note] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per face: ``face`` (1-based, as drawn), box, ``emotion``, ``confidence``,
        ``p_<label>`` per class."""
        rows = []
        for f in self.faces:
            row = {"face": f.index + 1, "x": f.box.x, "y": f.box.y, "w": f.box.w, "h": f.box.h,
                   "emotion": f.label, "confidence": round(f.confidence, 4)}
            row.update({emotions.prob_column(lab): round(float(p), 4)
                        for lab, p in zip(self.labels, f.probabilities)})
            rows.append(row)
        return pd.DataFrame(rows)

    def table_in_words(self) -> pd.DataFrame:
        """:meth:`table` as people read it: ``Face`` (1-based, as drawn), ``Emotion`` (the
        answer), ``Probability`` and one column per emotion as whole percentages ("87 %"),
        ``Where (pixels)``: the face's size and its top-left corner in the photo."""
        rows = []
        for f in self.faces:
            row = {"Face": f.index + 1, "Emotion": emotions.display_name(f.label),
                   "Probability": _percent(f.confidence)}
            row.update({emotions.display_name(lab): _percent(p)
                        for lab, p in zip(self.labels, f.probabilities)})
            row["Where (pixels)"] = f"{f.box.w} x {f.box.h} at ({f.box.x}, {f.box.y})"
            rows.append(row)
        return pd.DataFrame(rows)

    def probabilities(self, face: int) -> pd.DataFrame:
        """Tidy table for a bar chart: ``emotion``, ``probability`` (model order)."""
        f = self.faces[face]
        return pd.DataFrame({"emotion": [emotions.display_name(lab) for lab in self.labels],
                             "probability": f.probabilities.astype(float)})


def _percent(p: float) -> str:
    return f"{100 * float(p):.0f} %"


def _findable_face_px(shape, min_size: float, detector: str) -> int | None:
    """Smallest face side (photo pixels) ``detector`` can find in a photo of ``shape``
    (None when the detector's smallest face is not known)."""
    smallest = get_detector(detector).smallest_px
    if smallest is None:
        return None
    h, w = shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    side = max(smallest, int(min_size * min(h, w) * scale))
    return int(math.ceil(side / scale))


def classify_image(
    model,
    source,
    *,
    name: str | None = None,
    detect: bool = True,
    small_faces: bool = False,
    max_faces: int = MAX_FACES,
    margin: float | None = None,
    detector: str = DEFAULT_DETECTOR,
    align: bool = DEFAULT_ALIGN,
) -> ImageResult:
    """Find and classify every face of one photo.

    ``model``: a loaded FER model. ``source``: bytes, a binary file or an (H, W, 3)
    uint8 RGB array. ``detect=False``: the photo is a face crop; its centre square is
    classified. ``small_faces``: search faces down to 3 % of the shorter side instead of
    10 % (slower). ``detector``: a name of
    :data:`fer_engine.preprocess.detectors.DETECTORS`; ``align``: level the eyes before the
    crop; ``margin`` around each face (None: the model's own, ``model.face_margin``).
    Decoding problems raise :class:`fer_engine.errors.ImageError` with a
    sentence for the user.
    """
    label = f"'{name}'" if name else "this photo"
    if name and isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))  # named, so decoding errors name the file
        source.name = name
    min_size = MIN_FACE_SMALL if small_faces else MIN_FACE
    margin = face_margin(model, margin)
    prep = prepare_image(source, model.input_spec, detect=detect, margin=margin,
                         fallback="none", max_faces=max_faces, min_size=min_size,
                         detector=detector, align=align)
    h, w = prep.rgb.shape[:2]
    notes: list[Note] = []
    faces: list[Face] = []
    if prep.n_inputs:
        probs = np.asarray(model.predict_proba(prep.pixels), dtype=np.float64)
        boxes = prep.faces if prep.faces else prep.crops
        # numbered left to right (then top to bottom), as people read a group photo
        order = sorted(range(len(prep.crops)), key=lambda i: (boxes[i].x, boxes[i].y))
        for n, i in enumerate(order):
            p, top = probs[i], int(np.argmax(probs[i]))
            faces.append(Face(n, boxes[i], prep.crops[i], prep.pixels[i], p, model.labels[top],
                              float(p[top]), float(prep.angles[i])))
    if not detect:
        notes.append(Note("info", "Face detection is off: the centre square of the photo was "
                                  "classified as one face.", "detection_off"))
    elif not faces:
        notes.append(Note("warning", (
            f"No face was found in {label}. Use a photo of a face looking at the camera, well "
            "lit and not too small in the picture."), "no_face"))
    else:
        n_found = len(prep.faces)
        if n_found > 1:
            used = f"; the {len(faces)} largest are classified" if n_found > len(faces) else ""
            notes.append(Note("info", f"{n_found} faces found in {label}{used}. Each is numbered "
                                      "on the photo and classified on its own.", "several_faces"))
        tiny = [f for f in faces if f.small]
        if tiny:
            which = ", ".join(f"{f.index + 1} ({min(f.box.w, f.box.h)} px)" for f in tiny)
            notes.append(Note("warning", (
                f"Small face{'s' if len(tiny) > 1 else ''} {which}: below {SMALL_FACE_PX} "
                "pixels an expression is hard to read for people and models alike, and the "
                "model sees an enlarged, blurry copy. Treat these results with caution."),
                "small_faces"))
    if max(h, w) > LARGE_PHOTO_SIDE and detect:
        findable = _findable_face_px(prep.rgb.shape, min_size, detector)
        smallest = (f", so faces smaller than about {findable} pixels are not found"
                    if findable else ", so very small faces may be missed")
        notes.append(Note("info", (
            f"Large photo ({w} x {h} pixels, {w * h / 1e6:.0f} megapixels): faces are searched "
            f"in a {DETECT_MAX_SIDE}-pixel copy{smallest}; if a face was "
            "missed, crop the photo around it. The photo is shown scaled down."), "large_photo"))
    return ImageResult(name or "photo", prep.rgb, tuple(model.labels), faces, prep.status, notes)


# --------------------------------------------------------------------------- drawing


def fit(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy shrunk so its longest side is at most ``max_side``, and the scale used."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return rgb.copy(), 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


#: Box colour (RGB) on photos.
BOX_RGB = (0, 200, 0)


def annotate(result: ImageResult, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A display copy of the photo (longest side <= ``max_side``) with numbered boxes
    and each face's label and probability: (h, w, 3) uint8 RGB."""
    out, scale = fit(result.rgb, max_side)
    h, w = out.shape[:2]
    thick = max(2, round(max(h, w) / 400))
    font = max(0.45, max(h, w) / 1400)
    for f in result.faces:
        x0, y0 = int(f.box.x * scale), int(f.box.y * scale)
        x1, y1 = int(f.box.x2 * scale) - 1, int(f.box.y2 * scale) - 1
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_RGB, thick)
        text = f"{f.index + 1}: {f.label} {f.confidence:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        ty = y0 - 3 if y0 - th - base - 3 >= 0 else min(h - 1, y1 + th + 3)
        cv2.rectangle(out, (x0, ty - th - base), (x0 + tw + 4, ty + base // 2), BOX_RGB, -1)
        cv2.putText(out, text, (x0 + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, font,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out
