"""Analyse a study of recorded sessions: every video as a unit of work, the patient's face
only, shares with ranges, episodes and the change across sessions.

:func:`analyse_study` (the CLI's ``sessions analyse`` and the page's job call it):

1. reads the study (:func:`fer_engine.sessions.manifest.read_study`; problems are kept, one
   sentence each, and the other videos go on);
2. gives each video a key: its content's SHA-256, the analysis settings and the model's
   file hash. A video whose key already has a per-frame table in ``OUT/videos/`` is not
   analysed again: a crash, a cancel or a new session added to the study costs only what is
   new;
3. runs the other videos as units of work (:mod:`fer_engine.execution`: Ray tasks when there
   are several videos and cores, or a cluster; else one after another in this process).
   Each unit writes ``OUT/videos/<key>.csv.gz`` (one row per face per analysed frame: time,
   frame, track, box, raw and smoothed probabilities) and ``<key>.json`` (the video's
   properties and tracks), each atomically;
4. per session: the **patient's track** (the face seen in most analysed frames, not the
   largest face: a therapist nearer the camera is larger; ``choices`` overrides it per
   video), its ``coverage`` (share of analysed frames where it is seen; under 80 % is flagged),
   the shares of :func:`fer_engine.sessions.shares.session_shares` (raw and
   misclassification-adjusted with the shipped model card's test confusion), and the
   episodes of the watched emotions under the alert rule (threshold, hold time);
5. per patient with two or more sessions, each emotion's **trend**: the least-squares slope
   of its share against the session number, with a 95 % range from the sessions' own
   block-bootstrap draws (the slope of each round's resampled shares), so the range carries
   each session's uncertainty; sessions of different patients are never pooled;
6. writes ``OUT/sessions.csv`` (one row per session) and ``OUT/study.json`` atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine import format as fmt
from fer_engine.errors import UserFacingError
from fer_engine.sessions.manifest import Problem, Study, read_study
from fer_engine.sessions.shares import ADJUSTMENT_ASSUMES, session_shares

VIDEOS = "videos"
STUDY_JSON = "study.json"
SUMMARY_CSV = "sessions.csv"
#: Below this share of analysed time with the patient's face seen, a session is flagged.
MIN_COVERAGE = 0.8
#: Version of the per-frame table; part of the cache key.
TABLE_VERSION = 1


@dataclass(frozen=True)
class StudySettings:
    """How videos are analysed: ``model`` (``pretrained``, a run folder or a model file),
    ``detector``, ``step`` (every n-th frame), the alert rule (``threshold``, ``hold_s``,
    ``smoothing_s``, ``watched``) and ``max_faces`` followed per frame."""

    model: str = "pretrained"
    detector: str = "haar"
    step: int = 5
    threshold: float = 0.5
    hold_s: float = 3.0
    smoothing_s: float = 0.5
    watched: tuple[str, ...] = emotions.CLINICAL_EMOTIONS
    max_faces: int = 4

    def __post_init__(self) -> None:
        if int(self.step) < 1:
            raise UserFacingError(f"The frame step must be 1 or more, not {self.step}.")
        object.__setattr__(self, "watched", tuple(self.watched))

    def live_config(self):
        from fer_engine.inference.pipeline import LiveConfig

        return LiveConfig(smoothing_s=self.smoothing_s, threshold=self.threshold,
                          hold_s=self.hold_s, alert_emotions=self.watched,
                          detector=self.detector, max_faces=self.max_faces)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["watched"] = list(self.watched)
        return d


# --------------------------------------------------------------------------- keys, files


def file_sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_identity(model: str) -> str:
    """What identifies the model's weights: the shipped model's file hash, or a path's."""
    if model == "pretrained":
        from fer_engine.models import pretrained

        return "pretrained:" + pretrained.record()["sha256"]
    path = Path(model)
    files = sorted(path.rglob("*.keras")) if path.is_dir() else [path]
    return "|".join(f"{p.name}:{file_sha256(p)}" for p in files if p.is_file()) or model


def video_key(path, settings: StudySettings, model_id: str) -> str:
    """The cache key of one video's analysis: content hash + settings + model."""
    h = hashlib.sha256()
    h.update(file_sha256(path).encode())
    h.update(json.dumps({**settings.to_json(), "table": TABLE_VERSION}, sort_keys=True).encode())
    h.update(model_id.encode())
    return h.hexdigest()[:32]


def _atomic_write(path: Path, write) -> None:
    """``write(tmp_path)`` then rename onto ``path``: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(out: Path, key: str) -> bool:
    return (out / VIDEOS / f"{key}.json").is_file() and (out / VIDEOS / f"{key}.csv.gz").is_file()


# --------------------------------------------------------------------------- the unit

_MODELS: dict = {}


def _model(name: str):
    if name not in _MODELS:
        from fer_engine.models import load_model

        _MODELS.clear()
        _MODELS[name] = load_model(name)
    return _MODELS[name]


def video_unit(unit: dict, report) -> dict:
    """Analyse one video (a unit of work): writes its per-frame table and properties under
    ``unit["out"]``; returns the properties, or ``{"error": sentence}`` for a video that
    cannot be read (the study goes on without it)."""
    from fer_engine.inference.video import analyse_video

    settings = StudySettings(**{**unit["settings"], "watched": tuple(unit["settings"]["watched"])})
    out, key, video = Path(unit["out"]), unit["key"], unit["video"]
    rows: list[tuple] = []
    try:
        model = _model(settings.model)
        labels = tuple(model.labels)

        def on_frame(summary) -> None:
            for face in summary.faces:
                b = face.box
                rows.append((round(float(summary.t), 3), int(summary.frame), int(face.track),
                             int(b.x), int(b.y), int(b.w), int(b.h),
                             *np.round(face.raw, 5), *np.round(face.smoothed, 5)))
            if not summary.faces:
                rows.append((round(float(summary.t), 3), int(summary.frame), -1, 0, 0, 0, 0,
                             *([np.nan] * (2 * len(labels)))))

        def progress(fraction, read, total) -> None:
            report({"kind": "video", "video": video, "fraction": float(fraction),
                    "throttle": True})

        result = analyse_video(unit["path"], model, config=settings.live_config(),
                               frame_step=settings.step, progress=progress, on_frame=on_frame)
    except UserFacingError as exc:
        return {"video": video, "error": str(exc)}
    columns = (["t_s", "frame", "track", "x", "y", "w", "h"]
               + [f"raw_{lab}" for lab in labels] + [f"p_{lab}" for lab in labels])
    table = pd.DataFrame(rows, columns=columns)
    info = result.info
    meta = {"video": video, "key": key, "labels": list(labels), "fps": info.fps,
            "frames": info.frames, "width": info.width, "height": info.height,
            "duration_s": result.frames_read / info.fps if info.fps else 0.0,
            "frame_step": settings.step, "frames_read": result.frames_read,
            "frames_analysed": result.frames_analysed, "seconds": round(result.seconds, 2),
            "settings": settings.to_json()}
    _atomic_write(out / VIDEOS / f"{key}.csv.gz",
                  lambda p: table.to_csv(p, index=False, compression="gzip"))
    _atomic_write(out / VIDEOS / f"{key}.json", lambda p: p.write_text(json.dumps(meta)))
    report({"kind": "video_done", "video": video, "fraction": 1.0})
    return meta


# --------------------------------------------------------------------------- per session


def tracks_of(table: pd.DataFrame) -> pd.DataFrame:
    """One row per face track: ``frames`` analysed frames it is seen in, ``first_s``,
    ``last_s``, mean box ``area`` (pixels); most-seen first."""
    faces = table[table["track"] >= 0]
    if faces.empty:
        return pd.DataFrame(columns=["track", "frames", "first_s", "last_s", "area"])
    g = faces.assign(area=faces["w"] * faces["h"]).groupby("track")
    out = pd.DataFrame({"frames": g["frame"].nunique(), "first_s": g["t_s"].min(),
                        "last_s": g["t_s"].max(), "area": g["area"].mean()}).reset_index()
    return out.sort_values(["frames", "track"], ascending=[False, True]).reset_index(drop=True)


def patient_track(table: pd.DataFrame, chosen: int | None = None) -> int | None:
    """The patient's track: ``chosen`` when given and present, else the track seen in most
    analysed frames (a nearer, larger face of someone else does not win by size)."""
    tracks = tracks_of(table)
    if tracks.empty:
        return None
    if chosen is not None and int(chosen) in set(tracks["track"]):
        return int(chosen)
    return int(tracks["track"].iloc[0])


def episodes(table: pd.DataFrame, track: int | None, labels, settings: StudySettings) -> dict:
    """Episodes of each watched emotion on the patient's smoothed probabilities, under the
    alert rule: {emotion: {count, total_s, longest_s, peak}}."""
    from fer_engine.inference.alerts import AlertMonitor

    watched = [e for e in settings.watched if e in labels]
    monitor = AlertMonitor(watched, settings.threshold, settings.hold_s)
    frames = table.groupby("frame", sort=True)
    last_t = 0.0
    for _, rows in frames:
        t = float(rows["t_s"].iloc[0])
        last_t = t
        mine = rows[rows["track"] == track] if track is not None else rows.iloc[0:0]
        if mine.empty:
            monitor.update(t, None)
        else:
            row = mine.iloc[0]
            monitor.update(t, {e: float(row[f"p_{e}"]) for e in watched})
    monitor.finish(last_t)
    out = {}
    for e in watched:
        evs = [ev for ev in monitor.events if ev.emotion == e]
        durations = [ev.duration or 0.0 for ev in evs]
        out[e] = {"count": len(evs), "total_s": round(float(sum(durations)), 2),
                  "longest_s": round(float(max(durations, default=0.0)), 2),
                  "peak": round(float(max((ev.peak for ev in evs), default=0.0)), 4)}
    return out


def shipped_confusion(labels) -> np.ndarray | None:
    """The shipped model card's test confusion (counts, rows true) in ``labels`` order, or
    None when the card does not cover exactly these emotions."""
    from fer_engine.models import pretrained

    conf = (pretrained.model_card().get("evaluation") or {}).get("confusion") or {}
    names = list(conf.get("labels") or [])
    if sorted(names) != sorted(labels):
        return None
    m = np.asarray(conf["matrix"], dtype=float)
    order = [names.index(lab) for lab in labels]
    return m[np.ix_(order, order)]


def model_confusion(model: str, labels) -> np.ndarray | None:
    """The confusion (counts, rows true, in ``labels`` order) the adjustment uses: the shipped
    model card's test confusion, or for a run folder its out-of-fold predictions (every
    image scored by a model that never saw its person under a participant-independent
    protocol). None for a model file or a run that cannot serve (a leaky protocol included)."""
    if model == "pretrained":
        return shipped_confusion(labels)
    path = Path(model)
    if not (path / "predictions.csv").is_file():
        return None
    from fer_engine.experiments.runs import load_run

    run = load_run(path)
    if run.metrics.get("leaky") or not run.metrics.get("participant_independent", True):
        return None
    t = run.predictions
    index = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)))
    for true, pred in zip(t["true"], t["pred"]):
        if true in index and pred in index:
            m[index[true], index[pred]] += 1
    return m if (m.sum(axis=1) > 0).all() else None


@dataclass
class SessionResult:
    patient: str
    session: int
    video: str
    date: str | None
    seconds: float
    coverage: float
    track: int | None
    tracks: list
    shares: object  # SessionShares
    episodes: dict
    flags: list = field(default_factory=list)
    #: agreement with the session's human coding (``coding.agreement`` plus the coder's
    #: shares), None without a coding file
    coding: dict | None = None

    def to_dict(self) -> dict:
        out = {"patient": self.patient, "session": self.session, "video": self.video,
               "date": self.date, "seconds": round(self.seconds, 2),
               "coverage": round(self.coverage, 4), "track": self.track,
               "tracks": self.tracks, "shares": self.shares.to_dict(),
               "episodes": self.episodes, "flags": self.flags}
        if self.coding is not None:
            out["coding"] = self.coding
        return out


def summarise_session(entry, meta: dict, table: pd.DataFrame, settings: StudySettings,
                      confusion, chosen: int | None = None, seed: int = 0) -> SessionResult:
    labels = tuple(meta["labels"])
    track = patient_track(table, chosen)
    analysed = int(meta["frames_analysed"])
    mine = table[table["track"] == track].drop_duplicates("frame") if track is not None \
        else table.iloc[0:0]
    coverage = len(mine) / analysed if analysed else 0.0
    raw = mine[[f"raw_{lab}" for lab in labels]].to_numpy(float)
    codes = raw.argmax(axis=1) if len(raw) else np.zeros(0, np.int64)
    rate = meta["fps"] / meta["frame_step"] if meta["fps"] else 1.0
    shares = session_shares(codes, labels, rate_hz=rate, confusion=confusion, seed=seed)
    flags = []
    if coverage < MIN_COVERAGE:
        flags.append(f"The patient's face was seen in {coverage:.0%} of the analysed time "
                     f"(under {MIN_COVERAGE:.0%}): the shares describe only that part.")
    from fer_engine.inference.video import frame_step_warning

    warning = frame_step_warning(meta["frame_step"], meta["fps"], settings.hold_s)
    if warning:
        flags.append(warning)
    tracks = tracks_of(table).head(8)
    coded = None
    if entry.coding is not None:
        from fer_engine.sessions import coding

        intervals = coding.read_coding(entry.coding)  # CodingError: the caller reports it
        answers = np.asarray(labels, dtype=object)[codes] if len(codes) else np.zeros(0, object)
        coded = {**coding.agreement(intervals, mine["t_s"].to_numpy(float), answers, labels),
                 "coder_shares": coding.coded_shares(intervals, labels, float(meta["duration_s"]))}
    return SessionResult(entry.patient, entry.session, entry.video, entry.date,
                         float(meta["duration_s"]), coverage, track,
                         [{k: (round(float(v), 2) if k != "track" else int(v)) for k, v in r.items()}
                          for r in tracks.to_dict("records")],
                         shares, episodes(table, track, labels, settings), flags, coded)


# --------------------------------------------------------------------------- trends


def trend(sessions: list[int], shares: np.ndarray, samples: list[np.ndarray],
          confidence: float = 0.95) -> tuple[float, float, float]:
    """Slope of ``shares`` (one per session) against the session numbers, and its range from
    the sessions' bootstrap draws (round ``b`` takes each session's ``b``-th draw)."""
    x = np.asarray(sessions, float)
    xc = x - x.mean()
    denom = float((xc ** 2).sum())
    slope = float((xc * (np.asarray(shares, float) - np.mean(shares))).sum() / denom)
    draws = np.stack(samples, axis=1)  # (B, n_sessions)
    slopes = ((draws - draws.mean(axis=1, keepdims=True)) * xc).sum(axis=1) / denom
    slopes = slopes[np.isfinite(slopes)]
    alpha = (1 - confidence) / 2
    low, high = (np.quantile(slopes, [alpha, 1 - alpha]) if len(slopes)
                 else (float("nan"), float("nan")))
    return slope, float(low), float(high)


def trend_sentence(patient: str, emotion: str, first: SessionResult, last: SessionResult,
                   j: int, low: float, high: float) -> str:
    name = emotions.display_name(emotion)

    def share(r: SessionResult) -> str:
        return (f"{fmt.pct(r.shares.share[j], 0)} ({fmt.interval(r.shares.low[j], r.shares.high[j], 0)}) "
                f"of session {r.session}")

    if low > 0:
        verdict = "the rise is larger than the sessions' own variation"
    elif high < 0:
        verdict = "the fall is larger than the sessions' own variation"
    else:
        verdict = "the change is not distinguishable from no change"
    return f"{patient}: {name} took {share(first)} and {share(last)}; {verdict}."


def study_trends(results: list[SessionResult]) -> tuple[list[dict], list[str]]:
    """Per patient and emotion: slope per session with its range, and sentences (a patient
    with one session gets none, and a sentence saying so)."""
    out, notes = [], []
    by_patient: dict[str, list[SessionResult]] = {}
    for r in results:
        by_patient.setdefault(r.patient, []).append(r)
    for patient, rs in by_patient.items():
        rs = sorted(rs, key=lambda r: (r.session, r.date or ""))
        usable = [r for r in rs if r.shares.frames > 0]
        if len({r.session for r in usable}) < 2:
            notes.append(f"{patient}: one analysed session, so no trend across sessions.")
            continue
        labels = usable[0].shares.labels
        for j, emotion in enumerate(labels):
            slope, low, high = trend([r.session for r in usable],
                                     np.array([r.shares.share[j] for r in usable]),
                                     [r.shares.samples[:, j] for r in usable])
            out.append({"patient": patient, "emotion": emotion, "slope": round(slope, 5),
                        "low": round(low, 5), "high": round(high, 5),
                        "sessions": len(usable),
                        "sentence": trend_sentence(patient, emotion, usable[0], usable[-1], j,
                                                   low, high)})
    return out, notes


# --------------------------------------------------------------------------- the study


@dataclass
class StudyResult:
    out: Path
    sessions: list[SessionResult]
    trends: list[dict]
    problems: list[Problem]
    analysed: int  # videos analysed in this call (the rest came from earlier analyses)
    reused: int
    notes: list = field(default_factory=list)


def analyse_study(source, out, settings: StudySettings | None = None, *, execution=None,
                  progress=None, cancel=None, choices: dict | None = None) -> StudyResult:
    """Analyse the study at ``source`` into the folder ``out``; see the module docstring.

    ``execution``: as for trainings (:func:`fer_engine.execution.engine_for`). ``progress``
    receives dicts (``kind`` ``video`` with ``video`` and ``fraction``, ``video_done``,
    ``study`` with ``done``/``total`` videos). ``choices``: {video: track} patient choices
    (default: those saved in ``OUT/choices.json``)."""
    from fer_engine.execution import engine_for
    from fer_engine.models.base import check_cancel

    settings = settings or StudySettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study: Study = read_study(source)
    try:
        choices = dict(choices if choices is not None else read_choices(out))
        model_id = model_identity(settings.model)
        keys = {e.video: video_key(e.path, settings, model_id) for e in study.sessions}
        todo = [e for e in study.sessions if not cached(out, keys[e.video])]
        units = [{"paths": [str(e.path), str(out)], "path": str(e.path), "video": e.video,
                  "key": keys[e.video], "out": str(out), "settings": settings.to_json()}
                 for e in todo]
        done = {"n": len(study.sessions) - len(todo)}

        def relay(ev: dict) -> None:
            if progress is None:
                return
            ev = {k: v for k, v in ev.items() if k != "throttle"}
            progress(ev)
            if ev.get("kind") == "video_done":
                done["n"] += 1
                progress({"kind": "study", "done": done["n"], "total": len(study.sessions)})

        engine = engine_for(execution, len(units))
        failed: dict[str, str] = {}
        if engine is not None and units:
            results = engine.run_units(video_unit, units, progress=relay, cancel=cancel)
        else:
            results = []
            for unit in units:
                check_cancel(cancel)
                results.append(video_unit(unit, relay))
        for r in results:
            if "error" in r:
                failed[r["video"]] = r["error"]
        problems = list(study.problems) + [Problem(v, m) for v, m in failed.items()]
        confusion, looked = None, False
        sessions: list[SessionResult] = []
        for entry in study.sessions:
            if entry.video in failed:
                continue
            key = keys[entry.video]
            meta = json.loads((out / VIDEOS / f"{key}.json").read_text())
            table = pd.read_csv(out / VIDEOS / f"{key}.csv.gz")
            if not looked:  # one model, one confusion (or none) for the whole study
                confusion, looked = model_confusion(settings.model, meta["labels"]), True
            try:
                sessions.append(summarise_session(entry, meta, table, settings, confusion,
                                                  choices.get(entry.video)))
            except UserFacingError as exc:  # a coding file that cannot be read
                problems.append(Problem(entry.video, f"{exc} The video is analysed without it."))
                sessions.append(summarise_session(dataclasses.replace(entry, coding=None), meta,
                                                  table, settings, confusion,
                                                  choices.get(entry.video)))
        trends, notes = study_trends(sessions)
        result = StudyResult(out, sessions, trends, problems, analysed=len(units) - len(failed),
                             reused=len(study.sessions) - len(units), notes=notes)
        write_study(result, settings, keys)
        return result
    finally:
        study.remove_upload()


def read_choices(out) -> dict:
    try:
        return {str(k): int(v) for k, v in json.loads((Path(out) / "choices.json").read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_choice(out, video: str, track: int) -> None:
    """Keep the user's choice of the patient's track for ``video`` with the study's results."""
    choices = read_choices(out)
    choices[video] = int(track)
    _atomic_write(Path(out) / "choices.json", lambda p: p.write_text(json.dumps(choices, indent=1)))


def summary_frame(sessions: list[SessionResult]) -> pd.DataFrame:
    """One row per session: patient, session, video, minutes, coverage, each emotion's share
    with its range and adjusted share, and the watched emotions' episodes."""
    rows = []
    for r in sessions:
        row = {"patient": r.patient, "session": r.session, "video": r.video, "date": r.date,
               "minutes": round(r.seconds / 60, 2), "coverage": round(r.coverage, 4),
               "track": r.track}
        for j, lab in enumerate(r.shares.labels):
            row[f"{lab}_share"] = r.shares.share[j]
            row[f"{lab}_low"] = r.shares.low[j]
            row[f"{lab}_high"] = r.shares.high[j]
            row[f"{lab}_adjusted"] = r.shares.adjusted[j]
        for lab, ep in r.episodes.items():
            row[f"{lab}_episodes"] = ep["count"]
            row[f"{lab}_episode_s"] = ep["total_s"]
        rows.append(row)
    return pd.DataFrame(rows)


def coding_agreement(sessions: list[SessionResult]) -> dict:
    """Across the sessions with a coding file, per emotion: the agreement of the model's
    shares with the coder's (:func:`fer_engine.sessions.coding.share_agreement`)."""
    from fer_engine.sessions import coding

    coded = [r for r in sessions if r.coding is not None]
    if not coded:
        return {}
    out = {}
    for j, lab in enumerate(coded[0].shares.labels):
        model = [r.shares.share[j] for r in coded]
        coder = [r.coding["coder_shares"].get(lab) for r in coded]
        out[lab] = coding.share_agreement(model, [np.nan if v is None else v for v in coder])
    return out


def write_study(result: StudyResult, settings: StudySettings, keys: dict) -> None:
    doc = {
        "settings": settings.to_json(),
        "adjustment": ADJUSTMENT_ASSUMES,
        "sessions": [{**r.to_dict(), "key": keys.get(r.video)} for r in result.sessions],
        "coding_agreement": coding_agreement(result.sessions),
        "trends": result.trends,
        "notes": result.notes,
        "problems": [p.to_dict() for p in result.problems],
    }
    text = json.dumps(doc, indent=1, default=_jsonable)
    _atomic_write(result.out / STUDY_JSON, lambda p: p.write_text(text))
    frame = summary_frame(result.sessions)
    _atomic_write(result.out / SUMMARY_CSV, lambda p: frame.to_csv(p, index=False))


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(type(v))
