"""Classify one uploaded photo in memory and explain its faces: the Classify page's engine.

- :func:`classify_image` (bytes, a binary file or an RGB array) -> :class:`ImageResult`:
  every face found (largest first), its probabilities from **one** batched model call,
  and plain-language notes on what may make the result less reliable (no face, several
  faces, tiny faces, very large photos).
- :func:`annotate` draws numbered boxes and labels on a display-sized copy.
- :func:`explain_face` runs several attribution methods on one face;
  :func:`overlay_panel` shows a map on the *original photo* around that face;
  :func:`faithfulness` measures the maps (deletion/insertion areas against a random
  pixel order, agreement between methods) and :meth:`Faithfulness.lines` says it in
  one line each.

Nothing here writes to disk: the photo lives in memory for as long as the caller keeps it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.preprocess import FaceBox, normalise, prepare_image
from fer_engine.preprocess.faces import CASCADE_WINDOW, DETECT_MAX_SIDE

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

#: Attribution methods shown by default and their display names.
DEFAULT_METHODS: tuple[str, ...] = ("gradcam", "ig", "smoothgrad", "occlusion")
METHOD_NAMES: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "ig": "Integrated Gradients",
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "occlusion": "Occlusion",
}
_SHORT = {"ig": "IG", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM",
          "saliency": "Saliency", "smoothgrad": "SmoothGrad", "occlusion": "Occlusion"}


@dataclass
class Face:
    """One classified face. ``box``: the detected face (the centre square when detection
    was off), ``crop``: the square the model input was cut from, both in photo pixels;
    ``pixels``: the model input before normalisation ((size, size, channels) uint8);
    ``probabilities``: (K,) over the model's labels."""

    index: int
    box: FaceBox
    crop: FaceBox
    pixels: np.ndarray
    probabilities: np.ndarray
    label: str
    confidence: float

    @property
    def small(self) -> bool:
        return min(self.box.w, self.box.h) < SMALL_FACE_PX


@dataclass
class ImageResult:
    """A photo and its classified faces. ``rgb``: the decoded (H, W, 3) uint8 photo;
    ``notes``: ``(level, sentence)`` with level ``"info"`` or ``"warning"``."""

    name: str
    rgb: np.ndarray
    labels: tuple[str, ...]
    faces: list[Face]
    status: str
    notes: list[tuple[str, str]] = field(default_factory=list)

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

    def probabilities(self, face: int) -> pd.DataFrame:
        """Tidy table for a bar chart: ``emotion``, ``probability`` (model order)."""
        f = self.faces[face]
        return pd.DataFrame({"emotion": [emotions.display_name(lab) for lab in self.labels],
                             "probability": f.probabilities.astype(float)})


def _findable_face_px(shape, min_size: float) -> int:
    """Smallest face side (photo pixels) the detector can find in a photo of ``shape``."""
    h, w = shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    side = max(CASCADE_WINDOW, int(min_size * min(h, w) * scale))
    return int(math.ceil(side / scale))


def classify_image(
    model,
    source,
    *,
    name: str | None = None,
    detect: bool = True,
    small_faces: bool = False,
    max_faces: int = MAX_FACES,
    margin: float = 0.2,
) -> ImageResult:
    """Find and classify every face of one photo.

    ``model``: a loaded FER model. ``source``: bytes, a binary file or an (H, W, 3)
    uint8 RGB array. ``detect=False``: the photo is a face crop; its centre square is
    classified. ``small_faces``: search faces down to 3 % of the shorter side instead of
    10 % (slower). Decoding problems raise :class:`fer_engine.errors.ImageError` with a
    sentence for the user.
    """
    label = f"'{name}'" if name else "this photo"
    if name and isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))  # named, so decoding errors name the file
        source.name = name
    min_size = MIN_FACE_SMALL if small_faces else MIN_FACE
    prep = prepare_image(source, model.input_spec, detect=detect, margin=margin,
                         fallback="none", max_faces=max_faces, min_size=min_size)
    h, w = prep.rgb.shape[:2]
    notes: list[tuple[str, str]] = []
    faces: list[Face] = []
    if prep.n_inputs:
        probs = np.asarray(model.predict_proba(prep.pixels), dtype=np.float64)
        boxes = prep.faces if prep.faces else prep.crops
        for i, (p, crop) in enumerate(zip(probs, prep.crops)):
            top = int(np.argmax(p))
            faces.append(Face(i, boxes[i], crop, prep.pixels[i], p, model.labels[top],
                              float(p[top])))
    if not detect:
        notes.append(("info", "Face detection is off: the centre square of the photo was "
                              "classified as one face."))
    elif not faces:
        hint = "" if small_faces else " or tick 'Look for small faces'"
        notes.append(("warning", (
            f"No face was found in {label}. Use a photo of a face looking at the camera, well "
            f"lit and not too small in the picture{hint}; if the photo already is a cropped "
            "face, tick 'The photos are cropped faces'.")))
    else:
        n_found = len(prep.faces)
        if n_found > 1:
            used = f"; the {len(faces)} largest are classified" if n_found > len(faces) else ""
            notes.append(("info", f"{n_found} faces found in {label}{used}. Each is numbered "
                                  "on the photo and classified on its own."))
        tiny = [f for f in faces if f.small]
        if tiny:
            which = ", ".join(f"{f.index + 1} ({min(f.box.w, f.box.h)} px)" for f in tiny)
            notes.append(("warning", (
                f"Small face{'s' if len(tiny) > 1 else ''} {which}: below {SMALL_FACE_PX} "
                "pixels an expression is hard to read for people and models alike, and the "
                "model sees an enlarged, blurry copy. Treat these results with caution.")))
    if max(h, w) > LARGE_PHOTO_SIDE and detect:
        hint = "crop the photo around it" if small_faces else \
            "tick 'Look for small faces' or crop the photo around it"
        notes.append(("info", (
            f"Large photo ({w} x {h} pixels, {w * h / 1e6:.0f} megapixels): faces are searched "
            f"in a {DETECT_MAX_SIDE}-pixel copy, so faces smaller than about "
            f"{_findable_face_px(prep.rgb.shape, min_size)} pixels are not found; if a face was "
            f"missed, {hint}. The photo is shown scaled down.")))
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


# --------------------------------------------------------------------------- explanations


def face_input(face: Face, spec) -> np.ndarray:
    """The normalised model input of ``face``: (size, size, channels) float32."""
    return normalise(face.pixels, spec).astype(np.float32)


def explain_face(model, face: Face, methods: Sequence[str] = DEFAULT_METHODS, *,
                 target=None) -> dict:
    """``{method: Explanation}`` for one face, all explaining the same class (default the
    predicted one). Raises :class:`fer_engine.errors.ModelError` for models without
    gradients (HOG+SVM) or ensembles."""
    from fer_engine.explain import explain

    x = face_input(face, model.input_spec)
    if target is None:
        target = int(np.argmax(face.probabilities))
    return {m: explain(model, x, m, target=target) for m in methods}


def explanation_note(model, agreement: float | None = None) -> str | None:
    """For a model served by a LiteRT twin: one paragraph saying that the maps come from its
    float32 Keras graph, not from the function that gave the probabilities (``None`` for a
    model without a twin: there the maps explain the served function itself).
    ``agreement``: the model card's share of test images on which the two name the same
    emotion, quoted when known."""
    runner = getattr(model, "lite", None)
    if runner is None:
        return None
    served = runner.info.get("function", "a LiteRT twin")
    quant = runner.info.get("quantisation")
    text = (f"The probabilities above come from the served function ({served}"
            + (f"; {quant}" if quant else "") + "). Gradient maps need the float32 Keras "
            "graph, so the maps below and their faithfulness figures are computed on that "
            "graph (one pass, no mirror image), always for the emotion the served function "
            "chose.")
    if agreement is not None:
        text += (f" On the model card's test images the graph names the same emotion as the "
                 f"served function {agreement:.1%} of the time.")
    return text


def overlay_panel(result: ImageResult, face: Face, map_2d: np.ndarray, *, alpha: float = 0.45,
                  cmap: str = "jet", context: float = 0.35, max_side: int = 360) -> np.ndarray:
    """The map over the original photo around ``face``: (h, w, 3) uint8 RGB.

    The region shown is the face's crop box enlarged by ``context`` (fraction of its side)
    on each side, clipped to the photo; the map is placed through the crop box exactly as
    the model input was cut (:func:`fer_engine.explain.overlay`) and the panel shrunk or
    enlarged so its longest side is ``max_side``.
    """
    from fer_engine.explain import overlay

    h, w = result.rgb.shape[:2]
    c = face.crop
    pad = int(round(c.w * context))
    x0, y0 = max(0, c.x - pad), max(0, c.y - pad)
    x1, y1 = min(w, c.x2 + pad), min(h, c.y2 + pad)
    region = result.rgb[y0:y1, x0:x1]
    local = FaceBox(c.x - x0, c.y - y0, c.w, c.h)
    panel = overlay(region, map_2d, local, cmap=cmap, alpha=alpha)
    ph, pw = panel.shape[:2]
    scale = max_side / max(ph, pw)
    size = (max(1, round(pw * scale)), max(1, round(ph * scale)))
    return cv2.resize(panel, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


@dataclass
class Faithfulness:
    """Deletion/insertion areas per method (and for a random pixel order), the target's
    name, and the Spearman agreement matrix between the methods' maps."""

    target: str
    deletion: dict[str, float]
    insertion: dict[str, float]
    random_deletion: float
    random_insertion: float
    agreement: pd.DataFrame

    def pairs(self) -> list[tuple[str, str, float]]:
        names = list(self.agreement.index)
        return [(a, b, float(self.agreement.loc[a, b]))
                for i, a in enumerate(names) for b in names[i + 1:]]

    def lines(self) -> list[str]:
        """Three sentences: deletion, insertion, agreement."""
        def row(values: dict[str, float]) -> str:
            return " · ".join(f"{_SHORT.get(m, m)} {v:.2f}" for m, v in values.items())

        target = emotions.display_name(self.target) if emotions.is_emotion(self.target) \
            else self.target
        out = [
            f"Deletion area (probability of {target} while the most important pixels are "
            f"removed first; lower = more faithful): {row(self.deletion)} · random order "
            f"{self.random_deletion:.2f}",
            f"Insertion area (probability of {target} while the most important pixels are "
            f"restored first; higher = more faithful): {row(self.insertion)} · random order "
            f"{self.random_insertion:.2f}",
        ]
        pairs = [p for p in self.pairs() if np.isfinite(p[2])]
        if pairs:
            vals = [v for _, _, v in pairs]
            lo = min(pairs, key=lambda p: p[2])
            out.append(
                f"Method agreement (Spearman rank correlation between the maps, 1 = same "
                f"ranking of pixels): median {np.median(vals):.2f} over {len(pairs)} pair"
                f"{'s' if len(pairs) > 1 else ''}, lowest {_SHORT.get(lo[0], lo[0])} vs "
                f"{_SHORT.get(lo[1], lo[1])} {lo[2]:.2f}.")
        else:
            out.append("Method agreement: needs two or more methods with non-constant maps.")
        return out


def faithfulness(model, face: Face, explanations: dict, *, steps: int = 25,
                 seed: int = 0) -> Faithfulness:
    """Deletion/insertion areas of each map and of a random pixel order, and agreement.

    ``steps``: points on each curve (one batched model call per curve pair).
    """
    from fer_engine.explain import agreement_matrix, deletion_insertion

    x = face_input(face, model.input_spec)
    target = next(iter(explanations.values())).target if explanations else \
        int(np.argmax(face.probabilities))
    dele, ins = {}, {}
    for m, e in explanations.items():
        c = deletion_insertion(model, x, e.map, target=target, steps=steps, seed=seed)
        dele[m], ins[m] = c.deletion_auc, c.insertion_auc
    rnd = deletion_insertion(model, x, np.zeros(x.shape[:2], np.float32), target=target,
                             steps=steps, seed=seed)
    agreement = agreement_matrix({m: e.map for m, e in explanations.items()})
    return Faithfulness(model.labels[target], dele, ins, rnd.deletion_auc, rnd.insertion_auc,
                        agreement)
