"""The record of a live or recorded session: one row per processed frame, alert episodes, CSV."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.inference.alerts import AlertEvent
from fer_engine.inference.pipeline import FrameSummary


class Timeline:
    """The session's record: one row per processed frame, exportable as CSV.

    Columns: ``t_s`` (seconds), ``frame``, ``faces`` (number in the frame), ``track``
    (the primary face's track id), ``emotion`` (its smoothed label), ``p_<label>``
    (smoothed probabilities of the primary face; empty without a face), ``raw_<label>``
    (the same unsmoothed), ``alert`` (emotions in alert, ``+``-joined). Not thread-safe:
    fill it from one thread (the page drains the session's queue into it).

    Rows are kept in column arrays (float32 probabilities, labels as small codes), about
    100 bytes per frame with the arrays' spare room: an hour at 15 frames/s is under 10 MB.
    :meth:`rate`, :meth:`stats` and ``to_frame(max_rows=...)`` cost the same however long
    the session has run, so a page can redraw them every second.
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


def break_at_gaps(frame: pd.DataFrame, max_gap_s: float, time_col: str = "t_s") -> pd.DataFrame:
    """``frame`` (rows in time order) with an empty row (NaN probabilities) inserted wherever
    two neighbouring rows are more than ``max_gap_s`` seconds apart, so that a chart breaks
    its lines there instead of drawing a straight line across time nothing was analysed."""
    if len(frame) < 2:
        return frame
    t = frame[time_col].to_numpy(dtype=float)
    gaps = np.flatnonzero(np.diff(t) > max_gap_s)
    if not gaps.size:
        return frame
    blanks = pd.DataFrame({time_col: (t[gaps] + t[gaps + 1]) / 2}, index=gaps + 0.5)
    out = pd.concat([frame.set_axis(np.arange(len(frame), dtype=float)), blanks])
    return out.sort_index().reset_index(drop=True)
