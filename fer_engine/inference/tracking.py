"""Following faces from frame to frame and smoothing their probabilities over time.

:class:`FaceTracker` matches each frame's face boxes to the faces of earlier frames by
overlap; each :class:`Track` carries an :class:`EMA`, a time-based exponential moving
average of its probabilities (time constant in seconds, so the smoothing does not depend
on the frame rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fer_engine.preprocess import FaceBox


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
