"""Face boxes (:class:`FaceBox`) and OpenCV's bundled Haar frontal-face cascade.

The detectors of :mod:`fer_engine.preprocess.detectors` (``haar``, ``mtcnn``,
``blazeface``; run by name with :func:`fer_engine.preprocess.detectors.detect_faces`) build
on this module, which imports none of them. Every detector works on a copy whose longest
side is at most :data:`DETECT_MAX_SIDE` and maps boxes and landmarks back to the original
photo's pixels. The Haar cascade runs on a gray, histogram-equalised copy; each thread
loads its own cascade once (about 30 ms), so detection is safe to call from a
live-video callback and from a thread pool at the same time.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

#: The cascade file (ships with opencv-python-headless 4.x in ``cv2.data.haarcascades``).
CASCADE_FILE: str = "haarcascade_frontalface_default.xml"
#: Photos are shrunk so their longest side is at most this before detecting.
DETECT_MAX_SIDE: int = 640
#: Images whose longest side is below this are taken to be tight face crops and get a
#: replicated border before detection: the cascade cannot find a face that touches the edge.
SMALL_IMAGE_SIDE: int = 256
#: Border added to small images, as a fraction of their shorter side, on each side.
SMALL_IMAGE_BORDER: float = 0.25
#: The cascade's own window (pixels); no smaller face can be found.
CASCADE_WINDOW: int = 24
#: The five landmark points of :attr:`FaceBox.landmarks`, in order.
LANDMARKS: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

_local = threading.local()


@dataclass(frozen=True)
class FaceBox:
    """A box in the original photo's pixel coordinates: ``x, y`` top-left, ``w, h`` size.

    ``score`` is the cascade's confidence (its last stage's summed weight; higher is
    more face-like, not a probability) or NaN for boxes that were not detected
    (a centre crop, a box read from a file without one). Detectors other than Haar
    give a probability in [0, 1].

    ``landmarks``: None, or five (x, y) points in the photo's pixels, in the order of
    :data:`LANDMARKS`: the eye on the image's left, the eye on its right, the nose tip,
    the mouth corner on the left, the mouth corner on the right (a detector that only
    finds the mouth centre gives it for both corners). Not part of equality.
    """

    x: int
    y: int
    w: int
    h: int
    score: float = math.nan
    landmarks: tuple[tuple[float, float], ...] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """(left, right) eye centres in the photo's pixels, or None without landmarks."""
        if not self.landmarks:
            return None
        return self.landmarks[0], self.landmarks[1]

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def x2(self) -> int:
        """Right edge (exclusive)."""
        return self.x + self.w

    @property
    def y2(self) -> int:
        """Bottom edge (exclusive)."""
        return self.y + self.h

    @property
    def centre(self) -> tuple[float, float]:
        """(x, y) of the centre in pixels."""
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x < self.x2 and self.y <= y < self.y2

    def intersection(self, other: "FaceBox") -> int:
        """Overlapping area in pixels."""
        w = min(self.x2, other.x2) - max(self.x, other.x)
        h = min(self.y2, other.y2) - max(self.y, other.y)
        return max(0, w) * max(0, h)

    def iou(self, other: "FaceBox") -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    def to_dict(self) -> dict:
        d = {"x": self.x, "y": self.y, "w": self.w, "h": self.h}
        if not math.isnan(self.score):
            d["score"] = self.score
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FaceBox":
        score = d.get("score")
        return cls(
            int(d["x"]),
            int(d["y"]),
            int(d["w"]),
            int(d["h"]),
            math.nan if score is None else float(score),
        )


def _cascade() -> cv2.CascadeClassifier:
    """This thread's cascade, loaded on first use."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = cv2.data.haarcascades + CASCADE_FILE
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():  # a packaging problem, not a user problem
            raise RuntimeError(f"OpenCV could not load its face detector from {path}")
        _local.cascade = cascade
    return cascade


def _to_gray(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return np.ascontiguousarray(a, dtype=np.uint8)
    if a.ndim == 3 and a.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(a, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {a.shape}")


def detect_haar(
    rgb: np.ndarray,
    *,
    min_size: float = 0.1,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
) -> list[FaceBox]:
    """The Haar cascade's faces in ``rgb`` (see :func:`detect_faces`), no landmarks.

    The smallest face searched is never below the cascade's 24-pixel window in the
    detection copy.
    """
    if not 0 < min_size <= 1:
        raise ValueError(f"min_size is a fraction of the shorter side in (0, 1], not {min_size}")
    if scale_factor <= 1.0:
        raise ValueError(f"scale_factor must be above 1, not {scale_factor}")
    gray = _to_gray(rgb)
    h, w = gray.shape
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    if scale < 1.0:
        gray = cv2.resize(
            gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    pad = 0
    if max(h, w) < SMALL_IMAGE_SIDE:
        pad = int(round(SMALL_IMAGE_BORDER * min(gray.shape)))
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    gray = cv2.equalizeHist(gray)
    side = max(CASCADE_WINDOW, int(min_size * min(h, w) * scale))
    if side > min(gray.shape):
        return []
    rects, _levels, weights = _cascade().detectMultiScale3(
        gray,
        scaleFactor=scale_factor,
        minNeighbors=min_neighbors,
        minSize=(side, side),
        outputRejectLevels=True,
    )
    boxes = []
    for (bx, by, bw, bh), score in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
        x0 = max(0, int(round((bx - pad) / scale)))
        y0 = max(0, int(round((by - pad) / scale)))
        x1 = min(w, int(round((bx - pad + bw) / scale)))
        y1 = min(h, int(round((by - pad + bh) / scale)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            boxes.append(FaceBox(x0, y0, x1 - x0, y1 - y0, float(score)))
    return boxes
