"""Square crops around faces, model inputs, and mapping input-sized maps back onto the photo.

A *crop box* is a square :class:`FaceBox` in the original photo's pixels. It may
extend past the photo's border when the face is close to it and the square does not
fit; the missing part is filled by repeating the edge pixels. :func:`extract_face`
resizes the crop to the model's size and :func:`paste_map` does the inverse for any
(size, size) map (a saliency or Grad-CAM heat-map), so overlays line up exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer_engine.preprocess.faces import FaceBox
from fer_engine.preprocess.spec import InputSpec, normalise


#: Margin around a detected face (each side, as a fraction of the face's size) used when
#: preparing training faces and, for a model trained that way, when classifying.
DEFAULT_MARGIN: float = 0.2


def _hw(image_shape: tuple[int, ...]) -> tuple[int, int]:
    return int(image_shape[0]), int(image_shape[1])


def crop_box(box: FaceBox, image_shape: tuple[int, ...], margin: float = DEFAULT_MARGIN) -> FaceBox:
    """The square crop around face ``box`` in an image of ``image_shape`` ((H, W[, C])).

    The square's side is ``max(w, h) * (1 + 2 * margin)``: ``margin`` is the space
    added on each side as a fraction of the face size. It is centred on the face, then
    shifted to lie inside the image when it fits; when it is larger than the image it
    stays centred and the part outside is padded by :func:`extract_face`.
    """
    if margin < 0:
        raise ValueError(f"margin must be 0 or more, not {margin}")
    h, w = _hw(image_shape)
    side = max(1, int(round(max(box.w, box.h) * (1.0 + 2.0 * margin))))
    cx, cy = box.centre

    def place(centre: float, limit: int) -> int:
        start = int(round(centre - side / 2.0))
        if side <= limit:
            start = min(max(start, 0), limit - side)
        return start

    return FaceBox(place(cx, w), place(cy, h), side, side, box.score)


def centre_box(image_shape: tuple[int, ...], fraction: float = 1.0) -> FaceBox:
    """The centred square of side ``fraction * min(H, W)``: the crop to use without a face."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    h, w = _hw(image_shape)
    side = max(1, int(round(min(h, w) * fraction)))
    return FaceBox((w - side) // 2, (h - side) // 2, side, side)


def _cut(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """The pixels of ``box``; parts outside ``image`` repeat its edge pixels."""
    h, w = image.shape[:2]
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x2, w), min(box.y2, h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"crop box {box.as_tuple()} does not overlap the {w}x{h} image")
    part = image[y0:y1, x0:x1]
    top, left = y0 - box.y, x0 - box.x
    bottom, right = box.y2 - y1, box.x2 - x1
    if top or left or bottom or right:
        part = cv2.copyMakeBorder(
            np.ascontiguousarray(part), top, bottom, left, right, cv2.BORDER_REPLICATE
        )
    return part


def extract_face(rgb: np.ndarray, box: FaceBox, spec: InputSpec) -> np.ndarray:
    """Crop ``box`` from ``rgb`` and resize it to ``spec``: (size, size, channels) uint8.

    ``rgb`` is (H, W, 3) RGB, or (H, W) / (H, W, 1) gray (replicated to 3 channels
    when ``spec.channels == 3``). For one channel, colour is turned into luminance
    (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B). Shrinking uses area averaging,
    enlarging bilinear interpolation.
    """
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) gray image, got shape {a.shape}")
    part = _cut(a, box)
    size = spec.size
    shrink = part.shape[0] > size or part.shape[1] > size
    out = cv2.resize(
        part, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return finish_crop(out, spec)


def finish_crop(out: np.ndarray, spec: InputSpec) -> np.ndarray:
    """A (size, size[, 3]) uint8 crop -> (size, size, channels) in ``spec``'s colour."""
    if spec.channels == 1:
        if out.ndim == 3:
            out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
        return out[:, :, None]
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return out


def to_model_input(
    rgb: np.ndarray, box: FaceBox | None, spec: InputSpec, *, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """One model input, (size, size, channels) float32 normalised per ``spec``.

    ``box`` is a face box (``margin`` is added around it, see :func:`crop_box`) or
    None for the centre square of the whole image (no margin).
    """
    crop = centre_box(np.shape(rgb)) if box is None else crop_box(box, np.shape(rgb), margin)
    return normalise(extract_face(rgb, crop, spec), spec)


def paste_map(
    map_2d: np.ndarray,
    crop: FaceBox,
    image_shape: tuple[int, ...],
    *,
    fill: float = 0.0,
    angle: float = 0.0,
) -> np.ndarray:
    """Map an input-sized map back onto the photo: (H, W) float32.

    ``map_2d`` ((h, w), e.g. a 48x48 heat-map over a model input) is resized to the
    crop box with the same pixel-centre convention :func:`extract_face` used, placed
    at the box, and clipped to the photo where the box extends past its border.
    Pixels outside the crop get ``fill`` (use ``np.nan`` to tell them apart).
    ``angle``: the rotation an aligned input was cut with
    (:attr:`fer_engine.preprocess.PreparedImage.angles`); the map is turned back by it
    (its corners then fall outside the square and get ``fill``).
    """
    m = np.asarray(map_2d, dtype=np.float32)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {m.shape}")
    h, w = _hw(image_shape)
    out = np.full((h, w), fill, dtype=np.float32)
    x0, y0 = max(crop.x, 0), max(crop.y, 0)
    x1, y1 = min(crop.x2, w), min(crop.y2, h)
    if x1 <= x0 or y1 <= y0:
        return out
    big = cv2.resize(m, (crop.w, crop.h), interpolation=cv2.INTER_LINEAR)
    if angle:
        centre = (crop.w / 2.0 - 0.5, crop.h / 2.0 - 0.5)
        rot = cv2.getRotationMatrix2D(centre, -float(angle), 1.0)
        big = cv2.warpAffine(big, rot, (crop.w, crop.h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill))
    out[y0:y1, x0:x1] = big[y0 - crop.y : y1 - crop.y, x0 - crop.x : x1 - crop.x]
    return out
