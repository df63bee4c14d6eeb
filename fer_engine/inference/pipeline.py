"""Frame pipeline for live and recorded video: detect, classify, smooth, alert, draw.

No Streamlit here: a :class:`fer_engine.inference.live.LiveSession` runs a
:class:`FramePipeline` on frames from streamlit-webrtc's callback thread, and
:mod:`fer_engine.inference.video` runs the same pipeline over a recorded file.

Per frame (:meth:`FramePipeline.process`), frames are (H, W, 3) uint8 **BGR** as OpenCV
and PyAV (``to_ndarray(format="bgr24")``) deliver them:

1. faces are detected on a gray copy shrunk to ``detect_max_side`` pixels (a webcam
   face is large, so a small copy finds it at a fraction of the cost), every
   ``detect_every``-th frame; in between the last boxes are reused;
2. all faces of the frame go to the model in **one** batched ``predict_proba`` call;
3. each face is followed from frame to frame (``FaceTracker`` of
   :mod:`~fer_engine.inference.tracking`, box overlap) and its probabilities are smoothed
   with a time-based exponential moving average (``EMA``: time constant ``smoothing_s``
   seconds, so the smoothing does not depend on the frame rate);
4. the *primary* face (the largest in the frame) feeds the
   :class:`~fer_engine.inference.alerts.AlertMonitor`: an alert starts when the smoothed
   probability of a watched emotion (fear, anger by default) has stayed at or above
   ``threshold`` for ``hold_s`` seconds;
5. boxes, labels and the alert banner are drawn on a copy of the frame; optionally a
   Grad-CAM map (the compiled "fast" implementation, one batched call for all faces)
   is computed every ``gradcam_every``-th frame and painted until the next one.

Each frame yields a :class:`FrameSummary` (no pixels: small enough to queue), which a
:class:`fer_engine.inference.timeline.Timeline` records and exports as CSV. Nothing of
the video itself is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from fer_engine import emotions
from fer_engine.inference.alerts import AlertEvent, AlertMonitor
from fer_engine.inference.tracking import FaceTracker
from fer_engine.models.base import face_margin
from fer_engine.preprocess import FaceBox, crop_box, detect_faces, extract_face
from fer_engine.preprocess.detectors import LIVE_DETECTOR, check_detector

#: Box colour (BGR) of a face that is not in alert: pure green, absent from most scenes.
BOX_COLOUR: tuple[int, int, int] = (0, 255, 0)
#: Box and banner colour (BGR) while an alert is active: red.
ALERT_COLOUR: tuple[int, int, int] = (0, 0, 255)


@dataclass(frozen=True)
class LiveConfig:
    """Settings of the frame pipeline (immutable; swap the whole object to change them).

    Smoothing and alerts: ``smoothing_s`` EMA time constant in seconds (0: no smoothing);
    ``threshold`` probability in [0, 1]; ``hold_s`` seconds above it before an alert;
    ``alert_emotions`` the emotions watched (those the model does not predict are
    ignored). Detection: ``detect_max_side`` pixels of the detection copy's longest
    side; ``detector`` a name of :data:`fer_engine.preprocess.detectors.DETECTORS`
    (default the fast :data:`~fer_engine.preprocess.detectors.LIVE_DETECTOR`; faces are
    not aligned in video); ``min_face`` smallest face as a fraction of the frame's shorter side;
    ``scale_factor``/``min_neighbors`` OpenCV's; ``detect_every`` run the detector on
    every n-th frame; ``max_faces`` faces classified per frame (largest first);
    ``margin`` crop margin around a face (fraction of its size; None: the model's own,
    ``model.face_margin``, the margin its training faces were cut at).
    Tracking: ``track_iou`` overlap needed to continue a face's track; ``track_ttl_s``
    seconds a face may be missing before its track (and smoothing) is dropped.
    Grad-CAM: ``gradcam_every`` every n-th processed frame (0: off), ``gradcam_alpha``
    opacity. ``show_probability`` draws the label's percentage.
    """

    smoothing_s: float = 0.5
    threshold: float = 0.5
    hold_s: float = 3.0
    alert_emotions: tuple[str, ...] = emotions.CLINICAL_EMOTIONS
    detect_max_side: int = 320
    detector: str = LIVE_DETECTOR
    min_face: float = 0.2
    scale_factor: float = 1.2
    min_neighbors: int = 5
    detect_every: int = 1
    max_faces: int = 4
    margin: float | None = None
    track_iou: float = 0.3
    track_ttl_s: float = 1.0
    gradcam_every: int = 0
    gradcam_alpha: float = 0.4
    show_probability: bool = True

    def __post_init__(self) -> None:
        if self.smoothing_s < 0:
            raise ValueError("smoothing_s must be 0 or more seconds")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold is a probability in [0, 1]")
        if self.hold_s < 0:
            raise ValueError("hold_s must be 0 or more seconds")
        if self.detect_every < 1 or self.max_faces < 1:
            raise ValueError("detect_every and max_faces must be 1 or more")
        if self.gradcam_every < 0:
            raise ValueError("gradcam_every must be 0 (off) or more")
        if self.detect_max_side < 64:
            raise ValueError("detect_max_side must be at least 64 pixels")
        check_detector(self.detector)
        object.__setattr__(
            self, "alert_emotions", tuple(emotions.normalise(e) for e in self.alert_emotions)
        )


@dataclass
class FaceResult:
    """One face in one frame: box in frame pixels, its track, raw and smoothed probabilities."""

    box: FaceBox
    track: int
    raw: np.ndarray
    smoothed: np.ndarray

    def label(self, labels: Sequence[str]) -> str:
        return labels[int(np.argmax(self.smoothed))]


@dataclass
class FrameSummary:
    """What one processed frame produced, without pixels (cheap to queue).

    ``t``: seconds since the first frame of the stream (or video time); ``frame``:
    0-based index of processed frames (video: index in the file); ``stream``: counter of
    streams of a :class:`LiveSession`; ``faces``: largest first; ``alerts``: emotions in
    alert after this frame; ``fired``: alert episodes that started at this frame;
    ``timings``: milliseconds per stage (``detect``, ``classify``, ``gradcam``, ``draw``,
    ``total``); ``detected``: whether the detector ran on this frame.
    """

    t: float
    frame: int
    labels: tuple[str, ...]
    faces: list[FaceResult] = field(default_factory=list)
    alerts: tuple[str, ...] = ()
    fired: list[AlertEvent] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    detected: bool = True
    stream: int = 0

    @property
    def primary(self) -> FaceResult | None:
        return self.faces[0] if self.faces else None

    @property
    def label(self) -> str | None:
        """The primary face's smoothed label (None without a face)."""
        return self.primary.label(self.labels) if self.faces else None


def _scale_box(box: FaceBox, factor: float, shape) -> FaceBox:
    h, w = shape[:2]
    x0 = max(0, int(round(box.x * factor)))
    y0 = max(0, int(round(box.y * factor)))
    x1 = min(w, int(round(box.x2 * factor)))
    y1 = min(h, int(round(box.y2 * factor)))
    landmarks = None if box.landmarks is None else tuple(
        (px * factor, py * factor) for px, py in box.landmarks)
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0), box.score, landmarks)


class FramePipeline:
    """Detect, classify, smooth, alert and draw, frame after frame, for one stream.

    ``model``: a loaded :class:`fer_engine.models.base.FERModel` (``labels``,
    ``input_spec``, batched ``predict_proba``). ``clock``: seconds (monotonic) used when
    :meth:`process` gets no ``t``; tests pass a fake one. Not thread-safe: one pipeline
    per stream, used by one thread at a time.
    """

    def __init__(self, model, config: LiveConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.labels: tuple[str, ...] = tuple(model.labels)
        self.spec = model.input_spec
        self.clock = clock
        self.config = config or LiveConfig()
        self._t0: float | None = None
        self.frames = 0
        self._boxes: list[FaceBox] = []
        self._maps: list[tuple[FaceBox, np.ndarray]] = []
        self.tracker = FaceTracker(self.config.smoothing_s, self.config.track_iou,
                                   self.config.track_ttl_s)
        self.alerts = self._monitor(self.config)
        self._gradcam_error: str | None = None

    def _monitor(self, config: LiveConfig) -> AlertMonitor:
        watched = [e for e in config.alert_emotions if e in self.labels]
        return AlertMonitor(watched, config.threshold, config.hold_s, config.track_ttl_s)

    @property
    def margin(self) -> float:
        """The crop margin around each face: the config's, else the model's own."""
        return face_margin(self.model, self.config.margin)

    @property
    def gradcam_error(self) -> str | None:
        """Why Grad-CAM is unavailable for this model (None if it works or was not asked)."""
        return self._gradcam_error

    def set_config(self, config: LiveConfig) -> None:
        """Change settings between frames; smoothing and alert state carry over."""
        old, self.config = self.config, config
        self.tracker.tau, self.tracker.min_iou, self.tracker.ttl = (
            config.smoothing_s, config.track_iou, config.track_ttl_s)
        for tr in self.tracker.tracks.values():
            tr.ema.tau = config.smoothing_s
        if (old.alert_emotions, old.threshold, old.hold_s) != (
                config.alert_emotions, config.threshold, config.hold_s):
            previous = self.alerts
            self.alerts = self._monitor(config)
            self.alerts.events = previous.events  # keep the history, restart the timing
            previous.finish(previous.last_face_t or 0.0)
        if config.gradcam_every == 0:
            self._maps = []

    # -- stages -----------------------------------------------------------------
    def detect(self, bgr: np.ndarray) -> list[FaceBox]:
        """Faces in a BGR frame, largest first, in frame pixels (at most ``max_faces``)."""
        c = self.config
        # The Haar cascade reads gray pixels; the others want colour.
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY if c.detector == "haar" else
                             cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        scale = min(1.0, c.detect_max_side / max(h, w))
        small = image if scale >= 1.0 else cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA)
        boxes = detect_faces(small, detector=c.detector, min_size=c.min_face,
                             scale_factor=c.scale_factor, min_neighbors=c.min_neighbors)
        if scale < 1.0:
            boxes = [_scale_box(b, 1.0 / scale, (h, w)) for b in boxes]
        return boxes[: c.max_faces]

    def classify(self, bgr: np.ndarray, boxes: Sequence[FaceBox]) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs (n, size, size, channels) uint8 and probabilities (n, K), one call."""
        if not boxes:
            return np.zeros((0,) + self.spec.shape, np.uint8), np.zeros((0, len(self.labels)))
        if self.spec.channels == 1:
            src = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        else:
            src = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        pixels = np.stack([
            extract_face(src, crop_box(b, bgr.shape, self.margin), self.spec) for b in boxes
        ])
        return pixels, np.asarray(self.model.predict_proba(pixels), dtype=np.float64)

    def gradcam(self, pixels: np.ndarray, probs: np.ndarray) -> list[np.ndarray]:
        """Grad-CAM maps (input coordinates, max 1) of each face's top class: one batched call."""
        from fer_engine.explain import explain_batch
        from fer_engine.preprocess import normalise

        xs = normalise(pixels, self.spec)
        maps = explain_batch(self.model, xs, "gradcam", targets=list(np.argmax(probs, axis=1)),
                             implementation="fast")
        return list(maps)

    # -- one frame ----------------------------------------------------------------
    def process(self, bgr: np.ndarray, t: float | None = None) -> tuple[np.ndarray, FrameSummary]:
        """Annotated copy of ``bgr`` ((H, W, 3) uint8 BGR) and the frame's summary.

        ``t``: the frame's time in seconds (video time for a file); default the clock
        (times are reported relative to the first frame).
        """
        c = self.config
        if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {bgr.dtype} {bgr.shape}")
        now = self.clock() if t is None else float(t)
        if self._t0 is None:
            self._t0 = now if t is None else 0.0
        t_rel = now - self._t0
        timings: dict[str, float] = {}
        tic = time.perf_counter()

        detected = self.frames % c.detect_every == 0
        if detected:
            self._boxes = self.detect(bgr)
        boxes = self._boxes
        toc = time.perf_counter()
        timings["detect"] = (toc - tic) * 1e3

        pixels, probs = self.classify(bgr, boxes)
        tracks = self.tracker.update(boxes, t_rel)
        faces = [FaceResult(b, tr.id, p.astype(np.float32), tr.ema.update(p, t_rel).copy())
                 for b, tr, p in zip(boxes, tracks, probs)]
        tic = time.perf_counter()
        timings["classify"] = (tic - toc) * 1e3

        primary = faces[0].smoothed if faces else None
        fired = self.alerts.update(
            t_rel, None if primary is None else dict(zip(self.labels, map(float, primary))))

        timings["gradcam"] = 0.0
        if c.gradcam_every and self._gradcam_error is None and len(faces) \
                and self.frames % c.gradcam_every == 0:
            toc = time.perf_counter()
            try:
                maps = self.gradcam(pixels, probs)
                self._maps = [(crop_box(b, bgr.shape, self.margin), m) for b, m in zip(boxes, maps)]
            except Exception as exc:  # noqa: BLE001 - e.g. a model without convolutions
                self._gradcam_error = str(exc) or type(exc).__name__
                self._maps = []
            timings["gradcam"] = (time.perf_counter() - toc) * 1e3

        toc = time.perf_counter()
        out = self.draw(bgr, faces)
        timings["draw"] = (time.perf_counter() - toc) * 1e3
        timings["total"] = sum(timings.values())
        summary = FrameSummary(t=t_rel, frame=self.frames, labels=self.labels, faces=faces,
                               alerts=self.alerts.active, fired=fired, timings=timings,
                               detected=detected)
        self.frames += 1
        return out, summary

    def finish(self) -> list[AlertEvent]:
        """End ongoing alerts at the last frame's time; every alert episode of the stream."""
        last = self.alerts.last_face_t
        if last is not None:
            self.alerts.finish(last)
        return list(self.alerts.events)

    # -- drawing -----------------------------------------------------------------
    def draw(self, bgr: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
        """A copy of the frame with Grad-CAM (if on), boxes, labels and the alert banner."""
        out = bgr.copy()
        if self.config.gradcam_every and self._maps:
            from fer_engine.explain.overlay import paint_map

            # The last computed maps, placed at the current boxes of the same faces.
            for i, face in enumerate(faces[: len(self._maps)]):
                paint_map(out, self._maps[i][1], crop_box(face.box, out.shape, self.margin),
                          self.config.gradcam_alpha)
        active = set(self.alerts.active)
        h, w = out.shape[:2]
        thick = max(2, round(min(h, w) / 160))
        font = max(0.5, min(h, w) / 800)
        for i, face in enumerate(faces):
            label = face.label(self.labels)
            # The alert concerns the primary (largest) face: its box turns red.
            colour = ALERT_COLOUR if i == 0 and active else BOX_COLOUR
            b = face.box
            cv2.rectangle(out, (b.x, b.y), (b.x2 - 1, b.y2 - 1), colour, thick)
            text = label
            if self.config.show_probability:
                text += f" {100 * float(np.max(face.smoothed)):.0f}%"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1 + thick // 2)
            ty = b.y - 4 if b.y - th - base - 4 >= 0 else min(h - 1, b.y2 + th + 4)
            cv2.rectangle(out, (b.x, ty - th - base), (b.x + tw + 4, ty + base // 2), colour, -1)
            cv2.putText(out, text, (b.x + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, font,
                        (0, 0, 0), 1 + thick // 2, cv2.LINE_AA)
        if active:
            banner = "ALERT: " + ", ".join(active) + f" >= {self.config.threshold:.0%}"
            (tw, th), base = cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, font, 2)
            cv2.rectangle(out, (0, 0), (tw + 12, th + base + 12), ALERT_COLOUR, -1)
            cv2.putText(out, banner, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, font,
                        (255, 255, 255), 2, cv2.LINE_AA)
        return out
