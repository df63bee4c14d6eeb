"""Colour maps and overlays: an input-coordinate map shown on the original photo or video frame."""

from __future__ import annotations

import cv2
import numpy as np

from fer_engine.preprocess import FaceBox, denormalise

#: Colour map names accepted by :func:`colourise` (OpenCV's).
CMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "hot": cv2.COLORMAP_HOT,
    "parula": cv2.COLORMAP_PARULA,
    "bone": cv2.COLORMAP_BONE,
}


def colourise(map_2d: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """(H, W) map in [0, 1] (values outside are clipped) -> (H, W, 3) uint8 RGB."""
    if cmap not in CMAPS:
        raise ValueError(f"cmap must be one of {sorted(CMAPS)}")
    m = np.clip(np.nan_to_num(np.asarray(map_2d, dtype=np.float32)), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(m * 255).astype(np.uint8), CMAPS[cmap])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _blend(rgb: np.ndarray, placed: np.ndarray, cmap: str, alpha: float) -> np.ndarray:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be within 0..1")
    inside = np.isfinite(placed)
    colour = colourise(np.where(inside, placed, 0.0), cmap).astype(np.float32)
    out = rgb.astype(np.float32)
    a = np.where(inside, alpha, 0.0)[..., None]
    return np.clip(np.round(out * (1 - a) + colour * a), 0, 255).astype(np.uint8)


def _as_box(crop_box):
    """A FaceBox, or an (x, y, w, h) tuple turned into one."""
    if hasattr(crop_box, "x2"):
        return crop_box
    x, y, w, h = (int(v) for v in crop_box)
    return FaceBox(x, y, w, h)


def overlay(
    photo_rgb: np.ndarray,
    map_in_input_coords: np.ndarray,
    crop_box,
    *,
    cmap: str = "jet",
    alpha: float = 0.45,
    angle: float = 0.0,
) -> np.ndarray:
    """The map drawn on the ORIGINAL photo through the face's crop box: (H, W, 3) uint8.

    ``photo_rgb``: (H, W, 3) uint8 (or (H, W) gray). ``map_in_input_coords``: (h, w)
    map over the model input, values in [0, 1] (an :class:`Explanation`'s ``map``).
    ``crop_box``: the square the input was cut from, a ``FaceBox`` or ``(x, y, w, h)``
    in photo pixels (it may reach past the border; the part outside is dropped).
    Placement uses :func:`fer_engine.preprocess.paste_map` (same pixel-centre
    convention as the crop); pixels outside the box are left as they are. ``angle``: the
    rotation an aligned input was cut with; the map is turned back by it.
    """
    from fer_engine.preprocess import paste_map

    rgb = np.asarray(photo_rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"photo must be (H, W, 3) RGB, got {rgb.shape}")
    placed = paste_map(map_in_input_coords, _as_box(crop_box), rgb.shape, fill=np.nan,
                       angle=angle)
    return _blend(rgb.astype(np.uint8), placed, cmap, alpha)


def overlay_on_input(
    x: np.ndarray, map_2d: np.ndarray, spec, *, cmap: str = "jet", alpha: float = 0.45
) -> np.ndarray:
    """The map on the model input itself (denormalised for display): (h, w, 3) uint8."""
    px = np.clip(denormalise(np.asarray(x, np.float32), spec), 0, 255).astype(np.uint8)
    if px.ndim == 3 and px.shape[2] == 1:
        px = px[..., 0]
    if px.ndim == 2:
        px = np.repeat(px[..., None], 3, axis=2)
    return _blend(px, np.asarray(map_2d, dtype=np.float32), cmap, alpha)


def overlay_panel(result, face, map_2d: np.ndarray, *, alpha: float = 0.45, cmap: str = "jet",
                  context: float = 0.35, max_side: int = 360) -> np.ndarray:
    """The map over the original photo around one classified face: (h, w, 3) uint8 RGB.

    ``result``: the photo's result (``.rgb``, as
    :class:`fer_engine.inference.classify.ImageResult`), ``face``: one of its faces
    (``.crop``, the square the model input was cut from, and ``.angle``, the rotation it
    was cut with when aligned). The region shown is the crop
    box enlarged by ``context`` (fraction of its side) on each side, clipped to the
    photo; the map is placed through the crop box exactly as the model input was cut
    (:func:`overlay`) and the panel shrunk or enlarged so its longest side is ``max_side``.
    """
    h, w = result.rgb.shape[:2]
    c = face.crop
    pad = int(round(c.w * context))
    x0, y0 = max(0, c.x - pad), max(0, c.y - pad)
    x1, y1 = min(w, c.x2 + pad), min(h, c.y2 + pad)
    region = result.rgb[y0:y1, x0:x1]
    local = FaceBox(c.x - x0, c.y - y0, c.w, c.h)
    panel = overlay(region, map_2d, local, cmap=cmap, alpha=alpha,
                    angle=getattr(face, "angle", 0.0))
    ph, pw = panel.shape[:2]
    scale = max_side / max(ph, pw)
    size = (max(1, round(pw * scale)), max(1, round(ph * scale)))
    panel = cv2.resize(panel, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    outline_crop(panel, local, scale, getattr(face, "angle", 0.0))
    return panel


#: Colours of the outline of the region the model saw: a white line inside a dark one, seen
#: on any photo and any colour map.
OUTLINE_RGB = (255, 255, 255)
OUTLINE_DARK_RGB = (20, 20, 20)


def outline_crop(panel: np.ndarray, crop: FaceBox, scale: float = 1.0, angle: float = 0.0) -> None:
    """Draw, in place, the outline of ``crop`` (the square a model input was cut from, in
    the panel's pixels before ``scale``), turned by ``angle`` like an aligned input (the
    same rotation :func:`fer_engine.preprocess.paste_map` places its map with)."""
    corners = np.array([[crop.x, crop.y], [crop.x2, crop.y], [crop.x2, crop.y2],
                        [crop.x, crop.y2]], np.float64)
    if angle:
        centre = (crop.x + crop.w / 2.0, crop.y + crop.h / 2.0)
        rot = cv2.getRotationMatrix2D(centre, -float(angle), 1.0)
        corners = cv2.transform(corners[None], rot)[0]
    pts = np.round(corners * scale).astype(np.int32).reshape(-1, 1, 2)
    h, w = panel.shape[:2]
    pts[..., 0] = np.clip(pts[..., 0], 1, w - 2)  # a box reaching past the photo: on its edge
    pts[..., 1] = np.clip(pts[..., 1], 1, h - 2)
    cv2.polylines(panel, [pts], True, OUTLINE_DARK_RGB, 4, cv2.LINE_AA)
    cv2.polylines(panel, [pts], True, OUTLINE_RGB, 2, cv2.LINE_AA)


def paint_map(bgr: np.ndarray, map_2d: np.ndarray, crop: FaceBox, alpha: float) -> None:
    """Blend a heat-map (values in [0, 1], input coordinates) over the crop box of a BGR
    frame, in place; only the part of the box inside the frame is touched.

    ``crop``: a ``FaceBox`` in frame pixels. The same placement as :func:`overlay` (the
    map resized bilinearly to the crop box, jet colours), done in uint8 with OpenCV for
    video rates (the live and recorded-video pipeline).
    """
    h, w = bgr.shape[:2]
    x0, y0 = max(crop.x, 0), max(crop.y, 0)
    x1, y1 = min(crop.x2, w), min(crop.y2, h)
    if x1 <= x0 or y1 <= y0:
        return
    m = cv2.resize(np.asarray(map_2d, np.float32), (crop.w, crop.h), interpolation=cv2.INTER_LINEAR)
    m = m[y0 - crop.y : y1 - crop.y, x0 - crop.x : x1 - crop.x]
    colour = cv2.applyColorMap(np.round(np.clip(m, 0.0, 1.0) * 255).astype(np.uint8),
                               cv2.COLORMAP_JET)  # BGR
    bgr[y0:y1, x0:x1] = cv2.addWeighted(bgr[y0:y1, x0:x1], 1.0 - alpha, colour, alpha, 0.0)

