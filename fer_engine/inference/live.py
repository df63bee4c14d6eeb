"""Frame pipeline for live and recorded video: detect, classify, smooth, alert, draw.

No Streamlit here: the Live page hands frames from streamlit-webrtc's callback thread
to a :class:`LiveSession`, and :mod:`fer_engine.inference.video` runs the same
:class:`FramePipeline` over a recorded file.

Per frame (:meth:`FramePipeline.process`), frames are (H, W, 3) uint8 **BGR** as OpenCV
and PyAV (``to_ndarray(format="bgr24")``) deliver them:

1. faces are detected on a gray copy shrunk to ``detect_max_side`` pixels (a webcam
   face is large, so a small copy finds it at a fraction of the cost), every
   ``detect_every``-th frame; in between the last boxes are reused;
2. all faces of the frame go to the model in **one** batched ``predict_proba`` call;
3. each face is followed from frame to frame (:class:`FaceTracker`, box overlap) and its
   probabilities are smoothed with a time-based exponential moving average
   (:class:`EMA`: time constant ``smoothing_s`` seconds, so the smoothing does not
   depend on the frame rate);
4. the *primary* face (the largest in the frame) feeds the :class:`AlertMonitor`:
   an alert starts when the smoothed probability of a watched emotion (fear, anger by
   default) has stayed at or above ``threshold`` for ``hold_s`` seconds;
5. boxes, labels and the alert banner are drawn on a copy of the frame; optionally a
   Grad-CAM map (the compiled "fast" implementation, one batched call for all faces)
   is computed every ``gradcam_every``-th frame and painted until the next one.

Each frame yields a :class:`FrameSummary` (no pixels: small enough to queue), which a
:class:`Timeline` records and exports as CSV. Nothing of the video itself is kept.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.preprocess import FaceBox, crop_box, detect_faces, extract_face

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
    side; ``min_face`` smallest face as a fraction of the frame's shorter side;
    ``scale_factor``/``min_neighbors`` OpenCV's; ``detect_every`` run the detector on
    every n-th frame; ``max_faces`` faces classified per frame (largest first);
    ``margin`` crop margin around a face (fraction of its size, as in training).
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
    min_face: float = 0.2
    scale_factor: float = 1.2
    min_neighbors: int = 5
    detect_every: int = 1
    max_faces: int = 4
    margin: float = 0.2
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
        object.__setattr__(
            self, "alert_emotions", tuple(emotions.normalise(e) for e in self.alert_emotions)
        )


# --------------------------------------------------------------------------- smoothing


def ema_weight(dt: float, tau: float) -> float:
    """Weight of a new observation after ``dt`` seconds for time constant ``tau`` seconds.

    ``1 - exp(-dt / tau)``: after a step change the average covers 1 - 1/e (63 %) of it
    in ``tau`` seconds whatever the frame rate. ``tau == 0`` means no smoothing (1.0).
    """
    if tau <= 0:
        return 1.0
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


class EMA:
    """Exponential moving average of a probability vector over time.

    ``update(p, t)``: ``s <- s + w (p - s)`` with ``w = ema_weight(t - t_last, tau)``;
    the first observation is taken as it is. ``p``: (K,) floats; returns (K,) float64.
    The average of probability vectors is again one (it sums to 1).
    """

    def __init__(self, tau: float) -> None:
        self.tau = float(tau)
        self.value: np.ndarray | None = None
        self.t: float | None = None

    def update(self, p, t: float) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if self.value is None or self.t is None:
            self.value = p.copy()
        else:
            w = ema_weight(t - self.t, self.tau)
            self.value = self.value + w * (p - self.value)
        self.t = float(t)
        return self.value


# --------------------------------------------------------------------------- tracking


@dataclass
class Track:
    """One face followed over frames: id, last box, its EMA and when it was last seen (s)."""

    id: int
    box: FaceBox
    ema: EMA
    last_seen: float


class FaceTracker:
    """Greedy matching of each frame's boxes to existing tracks by overlap (IoU).

    Boxes are matched largest first to the unmatched track they overlap most (IoU of at
    least ``min_iou``); an unmatched box starts a new track; a track not seen for more
    than ``ttl`` seconds is dropped together with its smoothing.
    """

    def __init__(self, tau: float, min_iou: float = 0.3, ttl: float = 1.0) -> None:
        self.tau, self.min_iou, self.ttl = tau, min_iou, ttl
        self.tracks: dict[int, Track] = {}
        self._next = 0

    def update(self, boxes: Sequence[FaceBox], t: float) -> list[Track]:
        """One track per box (same order as ``boxes``)."""
        for tid in [k for k, tr in self.tracks.items() if t - tr.last_seen > self.ttl]:
            del self.tracks[tid]
        free = dict(self.tracks)
        out = []
        for box in boxes:
            best, best_iou = None, self.min_iou
            for tr in free.values():
                iou = box.iou(tr.box)
                if iou >= best_iou:
                    best, best_iou = tr, iou
            if best is None:
                best = Track(self._next, box, EMA(self.tau), t)
                self.tracks[best.id] = best
                self._next += 1
            else:
                del free[best.id]
                best.box = box
            best.last_seen = t
            out.append(best)
        return out


# --------------------------------------------------------------------------- alerts


@dataclass
class AlertEvent:
    """One alert episode of ``emotion``.

    ``above_since``: time (s) the smoothed probability reached the threshold;
    ``start``: time the alert fired (``above_since + hold``); ``end``: time it fell back
    below the threshold or the face was lost (None while ongoing); ``peak``: highest
    smoothed probability in the episode.
    """

    emotion: str
    above_since: float
    start: float
    end: float | None = None
    peak: float = 0.0

    @property
    def duration(self) -> float | None:
        """Seconds from the alert to its end (None while ongoing)."""
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict:
        return {
            "emotion": self.emotion,
            "above_since_s": round(self.above_since, 3),
            "alert_s": round(self.start, 3),
            "end_s": None if self.end is None else round(self.end, 3),
            "peak": round(self.peak, 4),
        }


class AlertMonitor:
    """Fires when a watched emotion's smoothed probability stays >= ``threshold`` for ``hold`` s.

    ``update(t, probs)`` with ``probs`` a {emotion: probability} mapping, or None when no
    face is visible. A gap without a face longer than ``ttl`` seconds ends every episode
    (at the last time a face was seen); a shorter gap changes nothing. Returns the
    events that *fired* at this update.
    """

    def __init__(self, emotions_: Sequence[str], threshold: float, hold: float,
                 ttl: float = 1.0) -> None:
        self.emotions = tuple(emotions_)
        self.threshold, self.hold, self.ttl = float(threshold), float(hold), float(ttl)
        self.above_since: dict[str, float | None] = {e: None for e in self.emotions}
        self.current: dict[str, AlertEvent | None] = {e: None for e in self.emotions}
        self.events: list[AlertEvent] = []
        self.last_face_t: float | None = None

    @property
    def active(self) -> tuple[str, ...]:
        """Emotions whose alert is on now."""
        return tuple(e for e in self.emotions if self.current[e] is not None)

    def _end(self, emotion: str, t: float) -> None:
        ev = self.current[emotion]
        if ev is not None:
            ev.end = t
        self.current[emotion] = None
        self.above_since[emotion] = None

    def update(self, t: float, probs: dict[str, float] | None) -> list[AlertEvent]:
        if probs is None:
            if self.last_face_t is not None and t - self.last_face_t > self.ttl:
                for e in self.emotions:
                    self._end(e, self.last_face_t)
            return []
        self.last_face_t = t
        fired = []
        for e in self.emotions:
            p = probs.get(e)
            if p is None or not p >= self.threshold:
                self._end(e, t)
                continue
            since = self.above_since[e]
            if since is None:
                since = self.above_since[e] = t
            ev = self.current[e]
            if ev is None and t - since >= self.hold - 1e-9:
                ev = self.current[e] = AlertEvent(e, since, t, peak=p)
                self.events.append(ev)
                fired.append(ev)
            if ev is not None:
                ev.peak = max(ev.peak, p)
        return fired

    def finish(self, t: float) -> None:
        """End every ongoing episode at ``t`` (the end of a recording or stream)."""
        for e in self.emotions:
            if self.current[e] is not None:
                self._end(e, t)


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- pipeline


def _scale_box(box: FaceBox, factor: float, shape) -> FaceBox:
    h, w = shape[:2]
    x0 = max(0, int(round(box.x * factor)))
    y0 = max(0, int(round(box.y * factor)))
    x1 = min(w, int(round(box.x2 * factor)))
    y1 = min(h, int(round(box.y2 * factor)))
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0), box.score)


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
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        scale = min(1.0, c.detect_max_side / max(h, w))
        small = gray if scale >= 1.0 else cv2.resize(
            gray, (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA)
        boxes = detect_faces(small, min_size=c.min_face, scale_factor=c.scale_factor,
                             min_neighbors=c.min_neighbors)
        if scale < 1.0:
            boxes = [_scale_box(b, 1.0 / scale, gray.shape) for b in boxes]
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
            extract_face(src, crop_box(b, bgr.shape, self.config.margin), self.spec) for b in boxes
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
                self._maps = [(crop_box(b, bgr.shape, c.margin), m) for b, m in zip(boxes, maps)]
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
            # The last computed maps, placed at the current boxes of the same faces.
            for i, face in enumerate(faces[: len(self._maps)]):
                paint_map(out, self._maps[i][1], crop_box(face.box, out.shape, self.config.margin),
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


def paint_map(bgr: np.ndarray, map_2d: np.ndarray, crop: FaceBox, alpha: float) -> None:
    """Blend a heat-map (values in [0, 1], input coordinates) over the crop box of a BGR
    frame, in place; only the part of the box inside the frame is touched.

    The same placement as :func:`fer_engine.explain.overlay` (the map resized bilinearly
    to the crop box, jet colours), done in uint8 with OpenCV for video rates.
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


# --------------------------------------------------------------------------- timeline


class Timeline:
    """The session's record: one row per processed frame, exportable as CSV.

    Columns: ``t_s`` (seconds), ``frame``, ``faces`` (number in the frame), ``track``
    (the primary face's track id), ``emotion`` (its smoothed label), ``p_<label>``
    (smoothed probabilities of the primary face; empty without a face), ``raw_<label>``
    (the same unsmoothed), ``alert`` (emotions in alert, ``+``-joined). Not thread-safe:
    fill it from one thread (the page drains the session's queue into it).

    Rows are kept in column arrays (float32 probabilities, labels as small codes), about
    100 bytes per frame with the arrays' spare room: an hour at 15 frames/s is under 10 MB. :meth:`rate`, :meth:`stats`
    and ``to_frame(max_rows=...)`` cost the same however long the session has run, so a
    page can redraw them every second.
    """

    def __init__(self, labels: Sequence[str], *, stream: int = 0) -> None:
        self.labels = tuple(labels)
        self.stream = stream
        self.events: list[AlertEvent] = []
        self.dropped = 0
        self._n = 0
        k = len(self.labels)
        self._cols = {
            "t_s": np.empty(0, np.float64), "frame": np.empty(0, np.int64),
            "faces": np.empty(0, np.int16), "track": np.empty(0, np.int32),
            "emotion": np.empty(0, np.int16), "alert": np.empty(0, np.int16),
            "p": np.empty((0, k), np.float32), "raw": np.empty((0, k), np.float32),
        }
        #: Codes of the ``emotion`` and ``alert`` columns: index into these lists.
        self._emotion_names: list[str] = ["", *self.labels]
        self._alert_names: list[str] = [""]

    def __len__(self) -> int:
        return self._n

    @staticmethod
    def _code(names: list[str], value: str) -> int:
        try:
            return names.index(value)
        except ValueError:
            names.append(value)
            return len(names) - 1

    def add(self, s: FrameSummary) -> None:
        cols, n = self._cols, self._n
        if n == len(cols["t_s"]):  # grow by half (amortised O(1) per row, little slack)
            cap = max(1024, n + n // 2)
            for key, arr in cols.items():
                grown = np.empty((cap, *arr.shape[1:]), arr.dtype)
                grown[:n] = arr[:n]
                cols[key] = grown
        face = s.primary
        cols["t_s"][n] = round(float(s.t), 3)
        cols["frame"][n] = int(s.frame)
        cols["faces"][n] = len(s.faces)
        cols["track"][n] = face.track if face is not None else -1
        cols["emotion"][n] = self._code(self._emotion_names, s.label or "")
        cols["alert"][n] = self._code(self._alert_names, "+".join(s.alerts))
        cols["p"][n] = face.smoothed if face is not None else np.nan
        cols["raw"][n] = face.raw if face is not None else np.nan
        self._n = n + 1
        self.events.extend(s.fired)

    @property
    def columns(self) -> list[str]:
        return (["t_s", "frame", "faces", "track", "emotion"]
                + [emotions.prob_column(lab) for lab in self.labels]
                + [f"raw_{lab}" for lab in self.labels] + ["alert"])

    def to_frame(self, max_rows: int | None = None) -> pd.DataFrame:
        """The rows as a table; with ``max_rows``, every k-th row only (k = ceil(n / max_rows)),
        first row included, for charts of long sessions. Probabilities rounded to 4 decimals."""
        n = self._n
        step = max(1, -(-n // max_rows)) if max_rows else 1
        rows = slice(0, n, step)
        c = {key: arr[rows] for key, arr in self._cols.items()}
        data: dict[str, object] = {
            "t_s": c["t_s"], "frame": c["frame"], "faces": c["faces"].astype(np.int64),
            "track": pd.array(c["track"], dtype="Int64"),
            "emotion": np.array(self._emotion_names, dtype=object)[c["emotion"]],
        }
        p = np.round(c["p"].astype(np.float64), 4)
        raw = np.round(c["raw"].astype(np.float64), 4)
        for j, lab in enumerate(self.labels):
            data[emotions.prob_column(lab)] = p[:, j]
        for j, lab in enumerate(self.labels):
            data[f"raw_{lab}"] = raw[:, j]
        data["alert"] = np.array(self._alert_names, dtype=object)[c["alert"]]
        frame = pd.DataFrame(data, columns=self.columns)
        frame["track"] = frame["track"].where(frame["faces"] > 0)
        return frame

    def to_csv(self) -> bytes:
        """UTF-8 CSV of :meth:`to_frame`."""
        return self.to_frame().to_csv(index=False, float_format="%.4f").encode("utf-8")

    def alerts_frame(self) -> pd.DataFrame:
        """One row per alert episode (see :class:`AlertEvent`)."""
        cols = ["emotion", "above_since_s", "alert_s", "end_s", "peak"]
        return pd.DataFrame([e.to_dict() for e in self.events], columns=cols)

    def rate(self, window_s: float = 2.0) -> float:
        """Frames per second over the last ``window_s`` seconds of the timeline (NaN if unknown)."""
        if self._n < 2:
            return float("nan")
        t = self._cols["t_s"][: self._n]
        t_end = t[-1]
        first = int(np.searchsorted(t, t_end - window_s, side="left"))
        n, t_start = self._n - first, t[first]
        return (n - 1) / (t_end - t_start) if n > 1 and t_end > t_start else float("nan")

    def stats(self) -> dict:
        """Frames, seconds covered and the share of frames with a face."""
        if not self._n:
            return {"frames": 0, "seconds": 0.0, "face_share": float("nan")}
        t, faces = self._cols["t_s"][: self._n], self._cols["faces"][: self._n]
        return {"frames": self._n, "seconds": float(t[-1] - t[0]),
                "face_share": float(np.mean(faces > 0))}


# --------------------------------------------------------------------------- live session


class LiveSession:
    """Bridge between a video callback thread and the UI thread, for one browser session.

    The callback thread calls :meth:`process_bgr` per frame: it runs the
    :class:`FramePipeline` (built on the first frame of each stream) and puts the
    :class:`FrameSummary` on a bounded queue (the oldest is dropped when the UI falls
    behind; :attr:`dropped` counts them). The UI thread calls :meth:`drain`.
    :meth:`close` (stream ended) drops the pipeline and its state; the next frame starts
    a new stream (``FrameSummary.stream`` increases). Settings are swapped atomically
    with :meth:`set_config`. Nothing of the frames is kept.
    """

    def __init__(self, model, config: LiveConfig | None = None, *, maxsize: int = 2000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.config = config or LiveConfig()
        self.clock = clock
        self.queue: queue.Queue[FrameSummary] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._pipeline: FramePipeline | None = None
        self.stream = 0
        self.dropped = 0
        self.frames = 0
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self._pipeline is not None

    def set_config(self, config: LiveConfig) -> None:
        with self._lock:
            self.config = config
            if self._pipeline is not None and self._pipeline.config != config:
                self._pipeline.set_config(config)

    def process_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """Callback thread: annotate one frame and queue its summary."""
        with self._lock:
            if self._pipeline is None:
                self.stream += 1
                self._pipeline = FramePipeline(self.model, self.config, clock=self.clock)
            pipeline, stream = self._pipeline, self.stream
            try:
                out, summary = pipeline.process(bgr)
            except Exception as exc:  # noqa: BLE001 - a frame must never kill the stream
                self.error = f"{type(exc).__name__}: {exc}"
                return bgr
            self.frames += 1
        summary.stream = stream
        self._put(summary)
        return out

    def _put(self, summary: FrameSummary) -> None:
        while True:
            try:
                self.queue.put_nowait(summary)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def drain(self, limit: int | None = None) -> list[FrameSummary]:
        """UI thread: every queued summary, oldest first."""
        out = []
        while limit is None or len(out) < limit:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out

    @property
    def gradcam_error(self) -> str | None:
        p = self._pipeline
        return None if p is None else p.gradcam_error

    def close(self) -> None:
        """The stream ended: end ongoing alerts, release the pipeline (tracks, maps, state)."""
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.finish()
            self._pipeline = None

