"""Alerts on a watched emotion: an episode starts when its smoothed probability has stayed
at or above a threshold for a hold time, and ends when it falls below or the face is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
