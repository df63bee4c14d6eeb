"""Agreement of the model with a human coder of a session video.

A **coding file** gives the coder's emotion over time, as intervals:

- CSV with the columns ``start_s, end_s, emotion`` (seconds; commas, semicolons or tabs);
- an ELAN tab-delimited export (File > Export As > Tab-delimited Text): each line holds a
  tier name, optional participant, begin and end times (seconds, or ``hh:mm:ss.mmm``), maybe a
  duration, and the annotation; the first two times on a line are its begin and end and the
  last field that is not a time is the emotion.

Emotion names go through :func:`fer_engine.emotions.normalise` (``Angry`` is anger); time
not covered by an interval is uncoded and left out of the comparison.

:func:`agreement` compares the patient's per-frame answers with the coding at two levels:
**frames** (every analysed frame inside a coded interval) and **seconds** (each whole
second's majority answer against the coder's label at its midpoint): Cohen's kappa and,
per emotion, the PPV (of the frames the model called X, the share the coder called X) and
recall (of the frames the coder called X, the share the model called X). Studies that
validate automatic coding find agreement on session proportions far higher than frame by
frame; :func:`share_agreement` gives the first across sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.errors import UserFacingError

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")


class CodingError(UserFacingError):
    """A coding file cannot be read."""


def _seconds(text: str) -> float | None:
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        h, mi, s = m.groups()
        return int(h or 0) * 3600 + int(mi) * 60 + float(s)
    try:
        v = float(text)
    except ValueError:
        return None
    return v if np.isfinite(v) else None


@dataclass(frozen=True)
class Interval:
    start_s: float
    end_s: float
    emotion: str


def read_coding(path) -> list[Interval]:
    """The coder's intervals, sorted by start; :class:`CodingError` naming the file and the
    line when a line cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise CodingError(f"The coding file {path.name} cannot be read ({exc.strerror}).") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise CodingError(f"The coding file {path.name} is empty.")
    head = [c.strip().lower() for c in re.split(r"[,;\t]", lines[0])]
    out: list[Interval] = []
    if {"start_s", "end_s", "emotion"} <= set(head):
        sep = max((",", ";", "\t"), key=lines[0].count)
        frame = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig")
        frame.columns = [c.strip().lower() for c in frame.columns]
        for i, row in frame.iterrows():
            start, end = _seconds(str(row["start_s"])), _seconds(str(row["end_s"]))
            if start is None or end is None or end <= start:
                raise CodingError(f"Line {i + 2} of {path.name} has no valid start_s < end_s.")
            out.append(Interval(start, end, emotions.normalise(str(row["emotion"]))))
    else:  # ELAN tab-delimited
        for n, line in enumerate(lines, 1):
            fields = [f.strip() for f in line.split("\t")]
            times = [t for t in (_seconds(f) for f in fields) if t is not None]
            words = [f for f in fields if f and _seconds(f) is None]
            if len(times) < 2 or not words:
                raise CodingError(
                    f"Line {n} of {path.name} is neither 'start_s,end_s,emotion' CSV nor an ELAN "
                    "tab-delimited line (begin and end times and an annotation).")
            if times[1] <= times[0]:
                raise CodingError(f"Line {n} of {path.name} ends before it begins.")
            out.append(Interval(times[0], times[1], emotions.normalise(words[-1])))
    return sorted(out, key=lambda iv: iv.start_s)


def label_at(intervals: list[Interval], t: np.ndarray) -> np.ndarray:
    """The coder's label at each time in ``t`` ("" where uncoded)."""
    out = np.full(len(t), "", dtype=object)
    for iv in intervals:
        out[(t >= iv.start_s) & (t < iv.end_s)] = iv.emotion
    return out


def _scores(coder: np.ndarray, model: np.ndarray, labels) -> dict:
    from sklearn.metrics import cohen_kappa_score

    keep = coder != ""
    coder, model = coder[keep], model[keep]
    per = {}
    for lab in labels:
        called, coded = model == lab, coder == lab
        hit = int((called & coded).sum())
        per[lab] = {"ppv": hit / int(called.sum()) if called.any() else None,
                    "recall": hit / int(coded.sum()) if coded.any() else None,
                    "coded": int(coded.sum())}
    kappa = (float(cohen_kappa_score(coder, model)) if len(coder) and len(set(coder) | set(model)) > 1
             else None)
    return {"n": int(len(coder)), "kappa": kappa,
            "agreement": float(np.mean(coder == model)) if len(coder) else None,
            "per_emotion": per}


def agreement(intervals: list[Interval], t_s: np.ndarray, answers: np.ndarray, labels) -> dict:
    """Frame- and second-level agreement of the model's ``answers`` (emotion names, one per
    analysed frame of the patient's face, at times ``t_s``) with the coder."""
    t_s = np.asarray(t_s, float)
    answers = np.asarray(answers, dtype=object)
    frames = _scores(label_at(intervals, t_s), answers, labels)
    secs = np.floor(t_s).astype(int)
    per_second, times = [], []
    for s in np.unique(secs):
        values, counts = np.unique(answers[secs == s], return_counts=True)
        per_second.append(values[np.argmax(counts)])
        times.append(s + 0.5)
    seconds = _scores(label_at(intervals, np.asarray(times)), np.asarray(per_second, dtype=object),
                      labels)
    return {"frames": frames, "seconds": seconds}


def coded_shares(intervals: list[Interval], labels, duration_s: float) -> dict:
    """The coder's share of coded time in each emotion (within the video's length)."""
    total = {lab: 0.0 for lab in labels}
    for iv in intervals:
        if iv.emotion in total:
            total[iv.emotion] += max(0.0, min(iv.end_s, duration_s) - max(iv.start_s, 0.0))
    coded = sum(total.values())
    return {lab: (v / coded if coded else None) for lab, v in total.items()}


def share_agreement(model_shares: list[float], coder_shares: list[float],
                    confidence: float = 0.95) -> dict:
    """Across sessions: Pearson correlation of the model's and the coder's share of one
    emotion, with a Fisher-z range (needs 4 or more sessions), and the mean difference."""
    from scipy import stats

    x, y = np.asarray(model_shares, float), np.asarray(coder_shares, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    out = {"sessions": int(len(x)), "r": None, "low": None, "high": None,
           "mean_difference": float(np.mean(x - y)) if len(x) else None}
    if len(x) >= 4 and np.std(x) > 0 and np.std(y) > 0:
        r = float(np.corrcoef(x, y)[0, 1])
        z, se = np.arctanh(np.clip(r, -0.999999, 0.999999)), 1 / np.sqrt(len(x) - 3)
        q = stats.norm.ppf(0.5 + confidence / 2)
        out.update(r=r, low=float(np.tanh(z - q * se)), high=float(np.tanh(z + q * se)))
    return out
