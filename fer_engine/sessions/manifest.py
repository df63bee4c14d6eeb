"""A study of recorded sessions: a folder of videos and its ``sessions.csv``.

``sessions.csv`` (commas, semicolons, tabs or ``|``; headers in any case) has one row per
recorded session:

============  ========  ==============================================================
column        needed    what it holds
============  ========  ==============================================================
``path``      yes       the video, relative to the study folder (MP4, WebM, AVI)
``patient``   yes       who the session is of (any text; ``P2`` sorts before ``P10``)
``session``   yes       the session's number in the therapy (a whole number)
``date``      no        when it was recorded (ISO ``YYYY-MM-DD``); orders sessions with
                        equal numbers, and is reported
``condition`` no        any label (e.g. ``exposure``, ``control``)
``coding``    no        a human coder's file for this video, relative to the folder
                        (``start_s,end_s,emotion`` CSV or an ELAN tab-delimited export)
============  ========  ==============================================================

:func:`read_study` reads a folder, a ``.zip`` archive (unpacked with the Dataset page's
checks and limits, :func:`fer_engine.data.upload.extract_zip`) or the path of the CSV
itself. Problems are reported one sentence each and the rest of the study goes on:

- a video that does not exist, or that this tool cannot open or decode: the row is left out;
- two rows for the same (patient, session): the first is analysed, the later one left out;
- a row without a path, patient or a whole-number session: left out;
- a coding file that does not exist: the video is analysed without it;
- a column that is none of the above: ignored.

A ``sessions.csv`` without one of the required columns, or a study with no usable row,
raises :class:`StudyError`. Nothing of the videos is copied: the study refers to them in
place; an unpacked archive's folder is removed with :meth:`Study.remove_upload`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fer_engine.data import upload
from fer_engine.data.dataset import natural_key
from fer_engine.data.metadata import read_csv_table
from fer_engine.errors import DatasetError, UserFacingError

#: The study's table of sessions, in the study folder.
MANIFEST = "sessions.csv"
REQUIRED: tuple[str, ...] = ("path", "patient", "session")
OPTIONAL: tuple[str, ...] = ("date", "condition", "coding")


class StudyError(UserFacingError):
    """The study cannot be read at all (no sessions.csv, a required column missing, no usable row)."""


@dataclass(frozen=True)
class Problem:
    """One problem of the study: ``video`` (its path as in ``sessions.csv``; "" when the
    problem is not about one video) and a one-sentence ``message``."""

    video: str
    message: str

    def to_dict(self) -> dict:
        return {"video": self.video, "message": self.message}


@dataclass(frozen=True)
class SessionEntry:
    """One usable row of ``sessions.csv``: ``video`` as written there, ``path`` the file;
    ``row`` the line number in the CSV (header = line 1)."""

    video: str
    path: Path
    patient: str
    session: int
    row: int
    date: str | None = None
    condition: str | None = None
    coding: Path | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.patient, self.session)


@dataclass
class Study:
    """A read study: ``folder``, its usable ``sessions`` (ordered by patient, then session and
    date) and ``problems``. ``upload_folder``: the unpacked archive's folder, when it came from
    one (see :meth:`remove_upload`)."""

    folder: Path
    sessions: list[SessionEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    upload_folder: Path | None = None

    @property
    def patients(self) -> list[str]:
        return sorted({s.patient for s in self.sessions}, key=natural_key)

    def remove_upload(self) -> None:
        """Delete the unpacked archive (videos included); a server folder is left alone."""
        if self.upload_folder is not None:
            upload.remove_upload(self.upload_folder)
            self.upload_folder = None


def readable_video(path: Path) -> str | None:
    """None when ``path`` opens as a video and its first frame decodes; else why not, in
    one sentence (naming the file by its name only)."""
    import cv2

    from fer_engine.inference.video import VideoError, probe_video

    try:
        probe_video(path)
    except VideoError as exc:
        return str(exc)
    cap = cv2.VideoCapture(os.fspath(path))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        return (f"No frame of '{Path(path).name}' could be decoded; it may be damaged or use a "
                "codec this computer cannot read (try MP4 with H.264, or WebM).")
    return None


def _find_manifest(folder: Path) -> Path:
    direct = folder / MANIFEST
    if direct.is_file():
        return direct
    # an unpacked archive often wraps the study in one folder
    inner = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(inner) == 1 and (inner[0] / MANIFEST).is_file():
        return inner[0] / MANIFEST
    raise StudyError(
        f"No {MANIFEST} found in {folder}: a study folder holds the videos and a {MANIFEST} "
        f"with the columns {', '.join(REQUIRED)} (and optionally {', '.join(OPTIONAL)})."
    )


def _whole_number(value) -> int | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _inside(folder: Path, rel: str) -> Path | None:
    """``folder / rel`` when it stays inside ``folder`` (no absolute path, no ``..`` out)."""
    p = Path(rel.replace("\\", "/"))
    if p.is_absolute():
        return None
    full = (folder / p).resolve()
    return full if full == folder.resolve() or folder.resolve() in full.parents else None


def read_manifest(csv_path, *, check_videos: bool = True) -> Study:
    """Read ``sessions.csv`` at ``csv_path``; paths are relative to its folder.
    ``check_videos``: open each video and decode its first frame (False: only check that the
    file exists)."""
    csv_path = Path(csv_path)
    folder = csv_path.parent
    try:
        table = read_csv_table(csv_path, "study table")
    except DatasetError as exc:
        raise StudyError(str(exc)) from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise StudyError(
            f"{MANIFEST} has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}: "
            f"it needs {', '.join(REQUIRED)} (found: {', '.join(map(str, table.columns))})."
        )
    study = Study(folder)
    for col in table.columns:
        if col not in REQUIRED + OPTIONAL:
            study.problems.append(Problem("", (
                f"{MANIFEST} has a column '{col}' this tool does not know; it was ignored "
                f"(known: {', '.join(REQUIRED + OPTIONAL)}).")))
    seen: dict[tuple[str, int], int] = {}
    for i, rec in enumerate(table.to_dict(orient="records")):
        line = i + 2
        video = rec.get("path") or ""
        where = f"{MANIFEST} line {line}"
        if not video:
            study.problems.append(Problem("", f"{where} names no video (empty path); it was left out."))
            continue
        patient = rec.get("patient")
        if not patient:
            study.problems.append(Problem(video, f"{where} ({video}) names no patient; it was left out."))
            continue
        session = _whole_number(rec.get("session"))
        if session is None:
            study.problems.append(Problem(video, (
                f"{where} ({video}) has session '{rec.get('session') or ''}', not a whole number; "
                "it was left out.")))
            continue
        path = _inside(folder, video)
        if path is None:
            study.problems.append(Problem(video, (
                f"{where}: the path {video} leaves the study folder; paths are relative to the "
                "folder holding sessions.csv, so it was left out.")))
            continue
        if (patient, session) in seen:
            study.problems.append(Problem(video, (
                f"{where} ({video}) is a second row for patient {patient}, session {session} "
                f"(line {seen[(patient, session)]} is the first); only the first is analysed.")))
            continue
        if not path.is_file():
            study.problems.append(Problem(video, (
                f"The video {video} ({where}) does not exist; the other sessions are analysed.")))
            continue
        if check_videos:
            why = readable_video(path)
            if why is not None:
                study.problems.append(Problem(video, f"{why.rstrip('.')} ({video}, {where}); "
                                              "the other sessions are analysed."))
                continue
        coding = None
        if rec.get("coding"):
            coding = _inside(folder, rec["coding"])
            if coding is None or not coding.is_file():
                study.problems.append(Problem(video, (
                    f"The coding file {rec['coding']} of {video} ({where}) does not exist; the "
                    "video is analysed without it.")))
                coding = None
        seen[(patient, session)] = line
        study.sessions.append(SessionEntry(video, path, str(patient), session, line,
                                           rec.get("date"), rec.get("condition"), coding))
    study.sessions.sort(key=lambda s: (natural_key(s.patient), s.session, s.date or ""))
    return study


def read_study(source, *, check_videos: bool = True, dest_parent=None,
               limits: upload.ZipLimits = upload.ZipLimits(), name: str | None = None) -> Study:
    """A study from a folder (holding ``sessions.csv``, or wrapping one folder that does), the
    path of a ``sessions.csv``, or a ``.zip`` archive (a path, bytes or a file object; unpacked
    under ``dest_parent``, default the uploads folder, with :func:`upload.extract_zip`'s checks
    and ``limits``). Raises :class:`StudyError` (or :class:`upload.UploadError` for a bad
    archive) when nothing can be analysed."""
    unpacked = None
    if isinstance(source, (bytes, bytearray)) or hasattr(source, "read") or (
            isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".zip")):
        if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
            raise StudyError(f"The archive {source} does not exist.")
        unpacked = upload.extract_zip(source, dest_parent, limits, name=name)
        source = unpacked
    path = Path(source)
    try:
        if path.is_file() and path.name.lower().endswith(".csv"):
            csv_path = path
        elif path.is_dir():
            csv_path = _find_manifest(path)
        else:
            raise StudyError(f"The study folder {path} does not exist.")
        study = read_manifest(csv_path, check_videos=check_videos)
        if not study.sessions:
            reasons = " ".join(p.message for p in study.problems[:5])
            raise StudyError(f"No session of the study can be analysed. {reasons}".strip())
    except BaseException:
        if unpacked is not None:
            upload.remove_upload(unpacked)
        raise
    study.upload_folder = unpacked
    return study


def sessions_frame(study: Study) -> pd.DataFrame:
    """The usable sessions as a table (video, patient, session, date, condition, coding)."""
    return pd.DataFrame(
        [{"video": s.video, "patient": s.patient, "session": s.session, "date": s.date,
          "condition": s.condition, "coding": None if s.coding is None else str(s.coding)}
         for s in study.sessions],
        columns=["video", "patient", "session", "date", "condition", "coding"])
